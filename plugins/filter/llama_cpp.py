# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters over plugins/module_utils/llama_cpp.py (no logic here)."""

from __future__ import annotations

from ansible_collections.llamaherd.cluster.plugins.module_utils import llama_cpp as lc


def llama_cpp_cmake_flags(gpus, build_number=None, extra=None, ccache=False, cuda_compiler=None):
    """CMake configure flags for a host's GPUs."""
    return lc.cmake_flags(gpus, build_number=build_number, extra=extra, ccache=ccache, cuda_compiler=cuda_compiler)


def llama_cpp_build_key(flags, version, source, arch, toolkit=""):
    """Versioned build directory name for these flags (and CUDA toolkit)."""
    return lc.build_key(version, source, flags, arch, toolkit=toolkit or "")


def llama_cpp_cuda_toolkit(gpus, distribution, distribution_major, pin=None, driver=None):
    """The CUDA toolkit a host installs for its GPUs and driver (source, version, packages)."""
    return lc.cuda_toolkit_choice(gpus, distribution, distribution_major, pin=pin, driver=driver)


def llama_cpp_rpc_server_cmd(binary, host, port, threads=None, cache=False):
    """ggml-rpc-server ExecStart line."""
    return lc.shell_join(lc.rpc_server_argv(binary, host, port, threads=threads, cache=cache))


def llama_cpp_server_cmd(server, binary, host, threads=None):
    """llama-server ExecStart line for one instance."""
    return lc.shell_join(lc.llama_server_argv(binary, server, host, threads=threads))


def llama_cpp_rpc_endpoints(workers):
    """host:port,host:port for --rpc."""
    return lc.rpc_endpoints(workers)


def llama_cpp_cuda_problem(cuda_version, compute_capability):
    """Why a CUDA toolkit cannot target a GPU, or an empty string."""
    return lc.cuda_toolkit_problem(cuda_version, compute_capability) or ""


class FilterModule:
    def filters(self):
        return {
            "llama_cpp_cmake_flags": llama_cpp_cmake_flags,
            "llama_cpp_build_key": llama_cpp_build_key,
            "llama_cpp_rpc_server_cmd": llama_cpp_rpc_server_cmd,
            "llama_cpp_server_cmd": llama_cpp_server_cmd,
            "llama_cpp_rpc_endpoints": llama_cpp_rpc_endpoints,
            "llama_cpp_cuda_problem": llama_cpp_cuda_problem,
            "llama_cpp_cuda_toolkit": llama_cpp_cuda_toolkit,
        }
