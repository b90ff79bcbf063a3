"""Print the CPU kernels torch runs with; with an argument, fail unless they are those.

    python .ci/cpu_report.py          # report only
    python .ci/cpu_report.py AVX2     # and exit 1 unless ATen and oneDNN both run AVX2

CI runs the float-comparing tests a second time under ATEN_CPU_CAPABILITY=avx2,
ONEDNN_MAX_CPU_ISA=AVX2 and one thread, as on another CPU; this line in the log shows
that the variables took effect (a misspelt variable is silently ignored by torch).
"""

import os
import subprocess
import sys

import torch

# oneDNN names the instruction set it dispatches to once a primitive runs with
# ONEDNN_VERBOSE set; torch hands a channels-last convolution of this size to oneDNN
# (a smaller one goes to its own kernels and reports nothing).
PROBE = (
    "import torch; c = torch.nn.Conv2d(16, 32, 3).to(memory_format=torch.channels_last); "
    "c(torch.randn(2, 16, 32, 32).to(memory_format=torch.channels_last))"
)


def onednn_isa() -> str:
    out = subprocess.run([sys.executable, "-c", PROBE], env=os.environ | {"ONEDNN_VERBOSE": "1"},
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return next((line.split("isa:", 1)[1] for line in out.splitlines() if ",isa:" in line),
                "not reported")  # fmt: skip


def main() -> int:
    capability, isa = torch.backends.cpu.get_cpu_capability(), onednn_isa()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__} runs ATen kernels for {capability}, oneDNN for {isa}, "
          f"on {threads} thread(s)")  # fmt: skip
    if len(sys.argv) > 1:
        wanted = sys.argv[1]
        if capability != wanted or wanted not in isa.replace(" ", ""):
            print(f"expected {wanted} kernels from ATen and oneDNN: check ATEN_CPU_CAPABILITY "
                  "and ONEDNN_MAX_CPU_ISA (else this stage tests the same kernels again)")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
