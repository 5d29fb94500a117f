// Stand-in for distributed-llama's `dllama`; see ../README.md.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "app.hpp"

static void runRoot(CliArgs &args) {
    ModelHeader h = loadModelHeader(args.modelPath, args.maxSeqLen);
    checkTopology(args, h);
    checkTokenizer(args.tokenizerPath);
    std::printf("💡 Arch: stand-in\n💡 nKvHeads: %d\n💡 SeqLen: %d\n💡 Nodes: %zu\n", h.nKvHeads, h.seqLen,
                args.workerHosts.size() + 1);
    std::vector<int> sockets;
    if (!args.workerHosts.empty()) {
        sockets = connectWorkers(args);
        sendFloatTypes(sockets, h.weightType, args.syncType);
    }
    checkFloatTypes(h.weightType, args.syncType);
    if (std::strcmp(args.mode, "inference") == 0) {
        if (args.prompt == nullptr) throw std::runtime_error("Prompt is required");
        if (args.steps == 0) throw std::runtime_error("Number of steps is required");
        std::printf("%s", args.prompt);
        for (NnUint i = 0; i < args.steps; i++) std::printf(" ·");
        std::printf("\n\nEvaluation\n    nTokens: %u\nPrediction\n    nTokens: %u\n", 1u, args.steps);
    } else if (std::strcmp(args.mode, "perplexity") == 0) {
        if (args.prompt == nullptr) throw std::runtime_error("Prompt is required");
        std::printf("Results\n   perplexity: 1.000000 (lower = better)\n");
    } else {
        std::printf("💻 System prompt (optional): \n(end of context)\n");
    }
    std::fflush(stdout);
    stopWorkers(sockets);
}

int main(int argc, char **argv) {
    int rc = EXIT_SUCCESS;
    try {
        CliArgs args = CliArgs::parse(argc, argv, true);
        if (args.mode == nullptr) throw std::runtime_error("Unsupported mode");
        if (std::strcmp(args.mode, "inference") == 0 || std::strcmp(args.mode, "perplexity") == 0 ||
            std::strcmp(args.mode, "chat") == 0)
            runRoot(args);
        else if (std::strcmp(args.mode, "worker") == 0)
            runWorker(args);
        else
            throw std::runtime_error("Unsupported mode");
    } catch (const std::exception &e) {
        std::printf("🚨 Critical error: %s\n", e.what());
        rc = EXIT_FAILURE;
    }
    std::fflush(stdout);
    return rc;
}
