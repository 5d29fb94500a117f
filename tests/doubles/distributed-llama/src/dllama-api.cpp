// Stand-in for distributed-llama's `dllama-api`: the same arguments, the root
// connecting to every worker first, then an HTTP server on --host/--port with
// the real API's two routes (GET /v1/models, POST /v1/chat/completions).
// See ../README.md.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "app.hpp"

static void usage() {
    std::fprintf(stderr, "Usage: dllama-api {--model <path>} {--tokenizer <path>} [--host <addr>] [--port <p>]\n");
    std::fprintf(stderr, "        [--buffer-float-type {f32|f16|q40|q80}]\n");
    std::fprintf(stderr, "        [--max-seq-len <max>]\n");
    std::fprintf(stderr, "        [--nthreads <n>]\n");
    std::fprintf(stderr, "        [--workers <ip:port> ...]\n");
}

static std::string jsonEscape(const std::string &s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        if (c == '"' || c == '\\') { out += '\\'; out += c; }
        else if (c == '\n') out += "\\n";
        else if ((unsigned char)c < 0x20) out += ' ';
        else out += c;
    }
    return out;
}

static void respond(int fd, int status, const char *reason, const std::string &body) {
    std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n" +
                       "Content-Type: application/json; charset=utf-8\r\n" +
                       "Access-Control-Allow-Origin: *\r\n" +
                       "Content-Length: " + std::to_string(body.size()) + "\r\n" +
                       "Connection: close\r\n\r\n";
    std::string all = head + body;
    try {
        writeAll(fd, all.data(), all.size());
    } catch (const std::exception &) {
    }
}

static bool readRequest(int fd, std::string &method, std::string &path, std::string &body) {
    std::string data;
    char buf[4096];
    size_t headerEnd = std::string::npos;
    while (headerEnd == std::string::npos) {
        ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
        if (r <= 0) return false;
        data.append(buf, r);
        headerEnd = data.find("\r\n\r\n");
        if (data.size() > 65536) return false;
    }
    size_t sp1 = data.find(' '), sp2 = data.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
    method = data.substr(0, sp1);
    path = data.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t length = 0;
    size_t cl = data.find("Content-Length:");
    if (cl == std::string::npos) cl = data.find("content-length:");
    if (cl != std::string::npos && cl < headerEnd) length = std::strtoul(data.c_str() + cl + 15, NULL, 10);
    body = data.substr(headerEnd + 4);
    while (body.size() < length && body.size() < 1048576) {
        ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
        if (r <= 0) break;
        body.append(buf, r);
    }
    return true;
}

static std::string baseName(const char *path) {
    std::string p(path);
    size_t pos = p.find_last_of("/\\");
    return pos == std::string::npos ? p : p.substr(pos + 1);
}

static void serve(CliArgs &args) {
    ModelHeader h = loadModelHeader(args.modelPath, args.maxSeqLen);
    checkTopology(args, h);
    checkTokenizer(args.tokenizerPath);
    std::vector<int> workers;
    if (!args.workerHosts.empty()) {
        workers = connectWorkers(args);
        sendFloatTypes(workers, h.weightType, args.syncType);
    }
    // Not caught, like upstream: a pair the CPU ops cannot run aborts dllama-api.
    checkFloatTypes(h.weightType, args.syncType);
    int server = createServerSocket(args.host, args.port);
    std::printf("Server URL: http://%s:%u/v1/\n", args.host, args.port);
    std::fflush(stdout);
    const std::string model = baseName(args.modelPath);
    unsigned long n = 0;
    while (true) {
        int fd = acceptSocket(server);
        std::string method, path, body;
        if (readRequest(fd, method, path, body)) {
            std::printf("🔷 %s %s\n", method.c_str(), path.c_str());
            std::fflush(stdout);
            if (method == "GET" && path == "/v1/models") {
                respond(fd, 200, "OK",
                        "{\"object\":\"list\",\"data\":[{\"id\":\"" + jsonEscape(model) +
                            "\",\"object\":\"model\",\"created\":0,\"owned_by\":\"user\"}]}");
            } else if (method == "POST" && path == "/v1/chat/completions") {
                if (body.find("\"messages\"") == std::string::npos) {
                    respond(fd, 400, "Bad Request", "{\"error\":\"messages is required\"}");
                } else {
                    n++;
                    // Like upstream, a broken worker ends this request without an
                    // answer and takes the network down: the HTTP port closes, the
                    // root reconnects every worker, then serves again
                    // (src/dllama-api.cpp:569-572, 617-627 at 8d624a7).
                    try {
                        forwardWorkers(workers);
                    } catch (const ExecutionError &) {
                        close(fd);
                        close(server);
                        for (size_t k = 0; k < workers.size(); k++) close(workers[k]);
                        std::printf("⭕ Network is closed\n");
                        throw;
                    }
                    std::string content = "stand-in reply from " + std::to_string(workers.size() + 1) + " nodes";
                    // It "generates" one token: cut by max_tokens 1 that is "length", as upstream
                    // (with the role's patch 0003) says; otherwise it stops.
                    size_t mt = body.find("\"max_tokens\"");
                    size_t colon = mt == std::string::npos ? mt : body.find(':', mt);
                    bool cut = colon != std::string::npos && std::atoi(body.c_str() + colon + 1) == 1;
                    respond(fd, 200, "OK",
                            "{\"id\":\"cmpl-j0\",\"object\":\"chat.completion\",\"created\":" +
                                std::to_string((long)std::time(nullptr)) +
                                ",\"model\":\"Distributed Model\",\"usage\":{\"completion_tokens\":1,\"prompt_tokens\":1,"
                                "\"total_tokens\":2},\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" +
                                jsonEscape(content) + "\"},\"finish_reason\":\"" + (cut ? "length" : "stop") + "\"}]}");
                }
            } else {
                respond(fd, 404, "Not Found", "{\"error\":\"not found\"}");
            }
        }
        close(fd);
    }
}

int main(int argc, char *argv[]) {
    std::signal(SIGPIPE, SIG_IGN);
    CliArgs args;
    try {
        args = CliArgs::parse(argc, argv, false);
    } catch (const std::exception &e) {
        // Upstream does not catch parser errors here: the process aborts.
        std::fprintf(stderr, "terminate called after throwing an instance of 'std::runtime_error'\n  what():  %s\n", e.what());
        std::abort();
    }
    if (args.help) {
        usage();
        return EXIT_SUCCESS;
    }
    while (true) {
        try {
            serve(args);
        } catch (const ConnectionError &e) {
            std::printf("🚨 Connection error: %s\n", e.what());
        } catch (const ExecutionError &e) {
            std::printf("🚨 Inference error: %s\n", e.what());
        }
        std::printf("🔄 Retrying in 3 seconds...\n");
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::seconds(3));
    }
    return EXIT_SUCCESS;
}
