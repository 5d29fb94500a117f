// Stand-in for distributed-llama; see app.hpp and ../README.md.
#include "app.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static const NnUint ACK = 23571114;
static const int MODEL_MAGIC = 0xA00ABCD;
static const int N_HEADER_KEYS = 22;  // VERSION (0) .. MOE_HIDDEN_DIM (21)

static FloatType parseFloatType(const char *val) {
    if (std::strcmp(val, "f32") == 0) return F_32;
    if (std::strcmp(val, "f16") == 0) return F_16;
    if (std::strcmp(val, "q40") == 0) return F_Q40;
    if (std::strcmp(val, "q80") == 0) return F_Q80;
    throw std::runtime_error("Invalid float type: " + std::string(val));
}

static void parseChatTemplate(const char *val) {
    if (std::strcmp(val, "llama2") == 0 || std::strcmp(val, "llama3") == 0 || std::strcmp(val, "deepSeek3") == 0)
        return;
    throw std::runtime_error("Invalid chat template type: " + std::string(val));
}

// The grammar of upstream's AppCliArgs::parse: an optional mode, then
// "--name value" pairs; --workers takes every following argument that does
// not start with '-', each "host:port"; unknown names fail; a trailing name
// without a value is ignored; --help/-h/--usage anywhere asks for help.
CliArgs CliArgs::parse(int argc, char **argv, bool requireMode) {
    CliArgs a;
    a.mode = nullptr;
    a.help = false;
    a.nThreads = 1;
    a.modelPath = nullptr;
    a.tokenizerPath = nullptr;
    a.prompt = nullptr;
    a.syncType = F_32;
    a.host = "0.0.0.0";
    a.port = 9990;
    a.steps = 0;
    a.maxSeqLen = 0;

    int i = 1;
    if (requireMode && argc > 1) {
        a.mode = argv[1];
        i++;
    }
    for (int x = 0; x < argc; x++) {
        if (std::strcmp(argv[x], "--usage") == 0 || std::strcmp(argv[x], "--help") == 0 || std::strcmp(argv[x], "-h") == 0) {
            a.help = true;
            return a;
        }
    }
    for (; i + 1 < argc; i += 2) {
        const char *name = argv[i];
        const char *value = argv[i + 1];
        if (std::strcmp(name, "--model") == 0) {
            a.modelPath = value;
        } else if (std::strcmp(name, "--tokenizer") == 0) {
            a.tokenizerPath = value;
        } else if (std::strcmp(name, "--prompt") == 0) {
            a.prompt = value;
        } else if (std::strcmp(name, "--buffer-float-type") == 0) {
            a.syncType = parseFloatType(value);
        } else if (std::strcmp(name, "--workers") == 0) {
            int j = i + 1;
            for (; j < argc && argv[j][0] != '-'; j++);
            int count = j - i - 1;
            a.workerHosts.clear();
            a.workerPorts.clear();
            for (int s = 0; s < count; s++) {
                const char *v = argv[i + 1 + s];
                const char *sep = std::strstr(v, ":");
                if (sep == NULL)
                    throw std::runtime_error("Invalid worker address: " + std::string(v));
                a.workerHosts.push_back(std::string(v, sep - v));
                a.workerPorts.push_back((NnUint)std::atoi(sep + 1));
            }
            i += count - 1;
        } else if (std::strcmp(name, "--port") == 0) {
            a.port = std::atoi(value);
        } else if (std::strcmp(name, "--host") == 0) {
            a.host = value;
        } else if (std::strcmp(name, "--nthreads") == 0) {
            a.nThreads = std::atoi(value);
        } else if (std::strcmp(name, "--steps") == 0) {
            a.steps = std::atoi(value);
        } else if (std::strcmp(name, "--temperature") == 0 || std::strcmp(name, "--topp") == 0) {
            (void)std::atof(value);
        } else if (std::strcmp(name, "--seed") == 0) {
            (void)std::atoll(value);
        } else if (std::strcmp(name, "--chat-template") == 0) {
            parseChatTemplate(value);
        } else if (std::strcmp(name, "--max-seq-len") == 0) {
            a.maxSeqLen = (NnUint)std::atoi(value);
        } else if (std::strcmp(name, "--gpu-index") == 0) {
            if (std::atoi(value) >= 0)
                throw std::runtime_error("This build does not support GPU");
        } else if (std::strcmp(name, "--gpu-segments") == 0) {
            if (std::strstr(value, ":") == NULL)
                throw std::runtime_error("GPU segments expected in the format <from>:<to>");
        } else if (std::strcmp(name, "--net-turbo") == 0) {
            (void)std::atoi(value);
        } else {
            throw std::runtime_error("Unknown option: " + std::string(name));
        }
    }
    if ((int)a.nThreads < 1)
        throw std::runtime_error("Number of threads must be at least 1");
    return a;
}

ModelHeader loadModelHeader(const char *path, NnUint maxSeqLen) {
    if (path == nullptr)
        throw std::runtime_error("Cannot open model file ((null))");
    FILE *fd = std::fopen(path, "rb");
    if (fd == NULL)
        throw std::runtime_error(std::string("Cannot open model file (") + path + "): " + std::strerror(errno));
    ModelHeader h;
    std::memset(&h, 0, sizeof(h));
    h.weightType = F_UNK;
    int magic = 0, headerSize = 0;
    try {
        if (std::fread(&magic, sizeof(int), 1, fd) != 1)
            throw std::runtime_error("Cannot read magic value");
        if (magic == 0xABCD00 || magic == 0xABCD01)
            throw std::runtime_error("Old model format is not supported");
        if (magic != MODEL_MAGIC)
            throw std::runtime_error("Unsupported magic number");
        if (std::fread(&headerSize, sizeof(int), 1, fd) != 1)
            throw std::runtime_error("Cannot read header size");
        if (headerSize < 8 || headerSize > 4096)
            throw std::runtime_error("Cannot read header values");
        std::vector<int> buf(headerSize / sizeof(int));
        if (std::fread(buf.data(), headerSize, 1, fd) != 1)
            throw std::runtime_error("Cannot read header values");
        int nKv = (headerSize - 2 * (int)sizeof(int)) / (int)sizeof(int);
        for (int i = 0; i + 1 < nKv; i += 2) {
            int key = buf[i], value = buf[i + 1];
            if (key < 0 || key >= N_HEADER_KEYS) throw std::runtime_error("Unsupported header key");
            if (key == 2) h.dim = value;
            else if (key == 4) h.nLayers = value;
            else if (key == 5) h.nHeads = value;
            else if (key == 6) h.nKvHeads = value;
            else if (key == 9) h.vocabSize = value;
            else if (key == 10) h.seqLen = value;
            else if (key == 13) h.weightType = value;
        }
    } catch (...) {
        std::fclose(fd);
        throw;
    }
    std::fclose(fd);
    if (h.weightType == F_UNK)
        throw std::runtime_error("Model does not specify weight type");
    if (maxSeqLen > 0 && (NnUint)h.seqLen > maxSeqLen)
        h.seqLen = maxSeqLen;
    return h;
}

void checkTokenizer(const char *path) {
    if (path == nullptr)
        throw std::runtime_error("Tokenizer path is required");
    FILE *f = std::fopen(path, "rb");
    if (f == NULL)
        throw std::runtime_error(std::string("Failed to open tokenizer file: ") + path);
    int magic = 0;
    size_t n = std::fread(&magic, sizeof(int), 1, f);
    std::fclose(f);
    if (n != 1)
        throw std::runtime_error("Cannot read tokenizer magic number");
    if (magic != 0x567123 && magic != 0x567124)
        throw std::runtime_error("Invalid tokenizer file");
}

void checkTopology(const CliArgs &args, const ModelHeader &h) {
    NnUint nNodes = (NnUint)args.workerHosts.size() + 1;
    if (nNodes > (NnUint)h.nKvHeads)
        throw std::runtime_error("This version does not support more nodes than the number of KV heads in the model");
    if (h.weightType == F_Q40 && args.syncType != F_Q80)
        throw std::runtime_error("This version supports only Q40 weights with Q80 sync type");
    // Upstream has no explicit check: its weight slicing asserts that every
    // dimension divides by the node count, which only powers of two do.
    if ((nNodes & (nNodes - 1)) != 0)
        throw std::runtime_error("The number of nodes must be a power of 2");
}

static const char *floatTypeName(int t) {
    if (t == F_32) return "F_32";
    if (t == F_16) return "F_16";
    if (t == F_Q40) return "F_Q40";
    if (t == F_Q80) return "F_Q80";
    return "F_UNK";
}

// Upstream (8d624a7) builds its CPU ops when the executor starts, after the
// tokenizer and, with workers, after sending them the net config. Measured
// with complete model files (bench/results/dllama-real-2026-12-04.md), the
// first op that fails, for every pair but q40/q80 and f32/f32, is either the
// cast into the sync buffer (no f16/q40 buffers: "Unsupported op quant:
// F_32/F_UNK/<sync>") or the first matmul, block_matmul_q, whose input is the
// sync buffer and whose weights are the model's (an f32 buffer takes f32
// weights only; a q80 buffer q40 weights only). Own code, same messages.
void checkFloatTypes(int weightType, int syncType) {
    if (weightType == F_Q40 && syncType != F_Q80)
        throw std::runtime_error("This version supports only Q40 weights with Q80 sync type");
    if (syncType == F_16 || syncType == F_Q40)
        throw std::invalid_argument(std::string("Unsupported op quant: F_32/F_UNK/") + floatTypeName(syncType));
    if (syncType == F_32 && weightType != F_32)
        throw std::invalid_argument(std::string("Unsupported op quant: F_32/") + floatTypeName(weightType) + "/F_32");
    if (syncType == F_Q80 && weightType == F_16)
        throw std::invalid_argument("Unsupported op quant: F_Q80/F_16/F_32");
    if (syncType == F_Q80 && weightType != F_Q40)
        throw std::invalid_argument(std::string("Unsupported CPU op code: MATMUL, quant: Q80_") +
                                    (weightType == F_32 ? "F32" : "Q80") + "_F32, op name: block_matmul_q");
}

void sendFloatTypes(const std::vector<int> &sockets, int weightType, int syncType) {
    int packet[2] = {weightType, syncType};
    for (size_t i = 0; i < sockets.size(); i++) writeAll(sockets[i], packet, sizeof(packet));
}

static void setNoDelay(int fd) {
    int flag = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, (char *)&flag, sizeof(int));
}

int createServerSocket(const char *host, int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (fd < 0) throw std::runtime_error("Cannot create socket");
    int opt = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &opt, sizeof(opt));
    struct sockaddr_in addr;
    std::memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = inet_addr(host);
    if (addr.sin_addr.s_addr == INADDR_NONE) {
        close(fd);
        throw std::runtime_error("Invalid bind host");
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        throw std::runtime_error("Cannot bind port: " + std::string(std::strerror(errno)));
    }
    if (listen(fd, SOMAXCONN) != 0) {
        close(fd);
        throw std::runtime_error("Cannot listen on port: " + std::string(std::strerror(errno)));
    }
    std::printf("Listening on %s:%d...\n", host, port);
    std::fflush(stdout);
    return fd;
}

int acceptSocket(int serverSocket) {
    int fd = ::accept(serverSocket, NULL, NULL);
    if (fd < 0) throw std::runtime_error("Error accepting connection");
    setNoDelay(fd);
    return fd;
}

int connectSocket(const char *host, int port) {
    struct addrinfo hints, *res = NULL;
    std::memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    char portStr[11];
    std::snprintf(portStr, sizeof(portStr), "%d", port);
    int err = getaddrinfo(host, portStr, &hints, &res);
    if (err != 0 || res == NULL) {
        std::printf("Cannot resolve target %s (%s)\n", host, gai_strerror(err));
        throw ConnectionError("Cannot resolve address");
    }
    int fd = ::socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0) {
        freeaddrinfo(res);
        throw std::runtime_error("Cannot create socket");
    }
    if (::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        std::printf("Cannot connect to %s:%d (%s)\n", host, port, std::strerror(errno));
        freeaddrinfo(res);
        close(fd);
        throw ConnectionError("Cannot connect");
    }
    freeaddrinfo(res);
    setNoDelay(fd);
    return fd;
}

void readAll(int fd, void *data, size_t size) {
    char *p = (char *)data;
    while (size > 0) {
        ssize_t r = ::recv(fd, p, size, 0);
        if (r < 0) throw std::runtime_error("Error reading from socket");
        if (r == 0) throw std::runtime_error("Socket closed");
        p += r;
        size -= r;
    }
}

void writeAll(int fd, const void *data, size_t size) {
    const char *p = (const char *)data;
    while (size > 0) {
        ssize_t r = ::send(fd, p, size, MSG_NOSIGNAL);
        if (r < 0) throw std::runtime_error(std::strerror(errno));
        if (r == 0) throw std::runtime_error("Socket closed");
        p += r;
        size -= r;
    }
}

static void readAck(int fd) {
    NnUint packet = 0;
    readAll(fd, &packet, sizeof(packet));
    if (packet != ACK) throw std::runtime_error("Invalid ack packet");
}

static void writeAck(int fd) {
    NnUint packet = ACK;
    writeAll(fd, &packet, sizeof(packet));
}

std::vector<int> connectWorkers(const CliArgs &args) {
    NnUint n = (NnUint)args.workerHosts.size();
    std::vector<int> sockets;
    try {
        for (NnUint i = 0; i < n; i++) {
            std::printf("⭕ Socket[%u]: connecting to %s:%u worker\n", i, args.workerHosts[i].c_str(), args.workerPorts[i]);
            std::fflush(stdout);
            int fd = connectSocket(args.workerHosts[i].c_str(), args.workerPorts[i]);
            sockets.push_back(fd);
            writeAll(fd, &n, sizeof(n));
            writeAll(fd, &i, sizeof(i));
            for (NnUint j = 0; j < n; j++) {
                if (j == i) continue;
                NnUint len = (NnUint)args.workerHosts[j].size() + 1;
                writeAll(fd, &len, sizeof(len));
                writeAll(fd, args.workerHosts[j].c_str(), len);
                writeAll(fd, &args.workerPorts[j], sizeof(NnUint));
            }
            readAck(fd);
            std::printf("⭕ Socket[%u]: connected\n", i);
        }
        for (NnUint i = 0; i < n; i++) writeAck(sockets[i]);
    } catch (...) {
        for (size_t k = 0; k < sockets.size(); k++) close(sockets[k]);
        throw;
    }
    std::printf("⭕ Network is initialized\n");
    std::fflush(stdout);
    return sockets;
}

void forwardWorkers(const std::vector<int> &sockets) {
    NnUint packet[2] = {0, 1};  // position, batchSize 1
    try {
        for (size_t i = 0; i < sockets.size(); i++) writeAll(sockets[i], packet, sizeof(packet));
        for (size_t i = 0; i < sockets.size(); i++) readAck(sockets[i]);
    } catch (const std::runtime_error &e) {
        std::printf("🚨 Execution error: %s\n", e.what());
        std::fflush(stdout);
        throw ExecutionError("Execution failed in one of the threads");
    }
}

void stopWorkers(std::vector<int> &sockets) {
    NnUint packet[2] = {0, 0};  // position, batchSize 0 = stop
    for (size_t i = 0; i < sockets.size(); i++) {
        try {
            writeAll(sockets[i], packet, sizeof(packet));
        } catch (const std::exception &) {
        }
        close(sockets[i]);
    }
    sockets.clear();
}

// Upstream's worker: accept the root, read the node list, ACK, wait for the
// root's ACK, then connect to the workers after itself and accept those
// before it (a full mesh), then follow control packets until the stop packet
// or a closed root socket, and serve the next root. A connection that is not
// a root (a port probe) throws out of the handshake: the process exits with
// an error, as upstream's does.
void runWorker(const CliArgs &args) {
    while (true) {
        int server = createServerSocket(args.host, args.port);
        int root = acceptSocket(server);
        std::printf("⭕ The root node has connected\n");
        NnUint nSockets = 0, nodeIndex = 0;
        readAll(root, &nSockets, sizeof(nSockets));
        if (nSockets == 0 || nSockets > 1024) throw std::runtime_error("Invalid number of nodes");
        NnUint nNodes = nSockets - 1;
        readAll(root, &nodeIndex, sizeof(nodeIndex));
        std::printf("⭕ nNodes: %u\n⭕ NodeIndex: %u\n", nNodes, nodeIndex);
        std::vector<std::string> hosts;
        std::vector<int> ports;
        for (NnUint i = 0; i < nNodes; i++) {
            NnUint len = 0;
            readAll(root, &len, sizeof(len));
            if (len == 0 || len > 1024) throw std::runtime_error("Invalid host length");
            std::vector<char> h(len);
            readAll(root, h.data(), len);
            h[len - 1] = '\0';
            hosts.push_back(std::string(h.data()));
            int port = 0;
            readAll(root, &port, sizeof(port));
            ports.push_back(port);
        }
        writeAck(root);
        readAck(root);
        std::vector<int> peers;
        for (NnUint i = 0; i < nNodes; i++) {
            if (i >= nodeIndex) {
                std::printf("⭕ Socket[%u]: connecting to %s:%d worker\n", i + 1, hosts[i].c_str(), ports[i]);
                peers.push_back(connectSocket(hosts[i].c_str(), ports[i]));
            } else {
                std::printf("⭕ Socket[%u]: wait for %s:%d worker\n", i + 1, hosts[i].c_str(), ports[i]);
                peers.push_back(acceptSocket(server));
            }
        }
        // Like upstream, the listening socket lives only until the network is
        // up: while a root is being served, the port is not listening.
        close(server);
        std::printf("⭕ Network is initialized\n");
        std::fflush(stdout);
        int types[2];
        readAll(root, types, sizeof(types));
        // Like upstream's worker building the ops of the config it was sent:
        // a pair it cannot run ends the process ("Critical error").
        checkFloatTypes(types[0], types[1]);
        while (true) {
            NnUint packet[2];
            try {
                readAll(root, packet, sizeof(packet));
            } catch (const std::exception &e) {
                std::printf("🚨 Network error: %s\n", e.what());
                break;
            }
            if (packet[1] == 0) {
                std::printf("🛑 Stop signal\n");
                break;
            }
            try {
                writeAck(root);
            } catch (const std::exception &e) {
                std::printf("🚨 Network error: %s\n", e.what());
                break;
            }
        }
        std::fflush(stdout);
        for (size_t k = 0; k < peers.size(); k++) close(peers[k]);
        close(root);
    }
}
