// Stand-in for distributed-llama (https://github.com/b4rtaz/distributed-llama):
// the command-line grammar, the model/tokenizer header checks, the root/worker
// handshake and the ports, without any inference. Written for llama-herd's
// tests; it contains no upstream code. See ../README.md.
#ifndef STANDIN_APP_HPP
#define STANDIN_APP_HPP

#include <stdexcept>
#include <string>
#include <vector>

typedef unsigned int NnUint;

enum FloatType { F_32 = 0, F_16 = 1, F_Q40 = 2, F_Q80 = 3, F_UNK = -1 };

class ConnectionError : public std::runtime_error {
public:
    explicit ConnectionError(const std::string &m) : std::runtime_error(m) {}
};

// Upstream's NnExecutorException: a step of the forward pass failed (a
// worker's socket broke); dllama-api drops its network and reconnects.
class ExecutionError : public std::runtime_error {
public:
    explicit ExecutionError(const std::string &m) : std::runtime_error(m) {}
};

struct CliArgs {
    const char *mode;
    bool help;
    NnUint nThreads;
    const char *modelPath;
    const char *tokenizerPath;
    const char *prompt;
    FloatType syncType;
    std::vector<std::string> workerHosts;
    std::vector<NnUint> workerPorts;
    const char *host;
    NnUint port;
    NnUint steps;
    NnUint maxSeqLen;

    static CliArgs parse(int argc, char **argv, bool requireMode);
};

struct ModelHeader {
    int weightType;
    int nKvHeads;
    int nHeads;
    int nLayers;
    int dim;
    int vocabSize;
    int seqLen;
};

ModelHeader loadModelHeader(const char *path, NnUint maxSeqLen);
void checkTokenizer(const char *path);
void checkTopology(const CliArgs &args, const ModelHeader &h);
// The (weights, sync) float-type pairs upstream's CPU ops run: q40/q80 and
// f32/f32. Any other pair throws std::invalid_argument with upstream's message.
void checkFloatTypes(int weightType, int syncType);

int createServerSocket(const char *host, int port);
int acceptSocket(int serverSocket);
int connectSocket(const char *host, int port);
void readAll(int fd, void *data, size_t size);
void writeAll(int fd, const void *data, size_t size);

// Root side: connect to every worker, send the node list, exchange ACKs.
std::vector<int> connectWorkers(const CliArgs &args);
// Root side: send each worker the float types (upstream sends the whole net
// config; a worker fails on a pair its CPU ops cannot run, as the root does).
void sendFloatTypes(const std::vector<int> &sockets, int weightType, int syncType);
// Root side, once per forward pass: a control packet (batchSize 1) to every
// worker and each worker's answer (upstream syncs activations both ways).
// A worker gone prints upstream's "Execution error" line and throws
// ExecutionError (src/nn/nn-executor.cpp:149-154, 200-201 at 8d624a7).
void forwardWorkers(const std::vector<int> &sockets);
// Root side: the stop packet (batchSize 0) and close.
void stopWorkers(std::vector<int> &sockets);
// Worker side: serve roots forever (one at a time).
void runWorker(const CliArgs &args);

#endif
