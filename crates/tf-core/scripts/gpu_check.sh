#!/usr/bin/env bash
# Runs the CUDA tests, benchmark and the GPU digits example on a machine with an NVIDIA
# GPU but no Rust toolchain (the workplace's lent GPU machine), from binaries built here.
#
#   crates/tf-core/scripts/gpu_check.sh pack   # here: build release binaries into .gpu/
#   crates/tf-core/scripts/gpu_check.sh run    # there, from the repository root; logs to $OUT
#
# `pack` builds the `cuda` feature's test binaries, tf-distribute's NCCL test, the cuda bench and train_digits in
# release mode, strips them and compresses them into .gpu/bins.tar.xz (ignored by git).
# `run` finds the CUDA libraries (driver, NVRTC, cuBLAS, cuRAND, NCCL: the pip `nvidia-*`
# wheels or a CUDA toolkit), puts them on LD_LIBRARY_PATH, links the repository at the
# path the binaries were built in (tests read fixtures through CARGO_MANIFEST_DIR) and
# runs everything, failing if any CUDA test says it skipped. Where the machine has
# `mpirun`, the MPI tests and data-parallel benches run too (a quiet 16-core machine).
set -u -o pipefail
mode=${1:-}
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"

case "$mode" in
pack)
    set -e
    mkdir -p .gpu/bin
    rm -f .gpu/bin/*
    msgs=$(mktemp)
    cargo test --release -p tf-core -p tf-keras --features cuda \
        --test cuda --test cuda_absent --test placement --test cuda_gradients --test cuda_coverage --test mirrored_gpu \
        --no-run --message-format=json >"$msgs"
    cargo test --release -p tf-distribute --features nccl --test nccl --no-run --message-format=json >>"$msgs"
    cargo build --release -p tf-keras --features cuda --example train_digits --message-format=json >>"$msgs"
    cargo bench -p tf-core --features cuda --bench cuda --no-run --message-format=json >>"$msgs"
    cargo bench -p tf-keras --features cuda --bench cuda_cnn --no-run --message-format=json >>"$msgs"
    # MPI binaries (run under mpirun there, when it has one): tests and benches.
    cargo test --release -p tf-distribute --features mpi --test mpi_collectives --no-run --message-format=json >>"$msgs"
    cargo test --release -p tf-keras --features mpi --test mpi_fit --no-run --message-format=json >>"$msgs"
    cargo bench -p tf-distribute --features mpi --bench distribute --no-run --message-format=json >>"$msgs"
    cargo bench -p tf-keras --features mpi --bench distributed --no-run --message-format=json >>"$msgs"
    # Every executable cargo reported, named after its target.
    python3 - "$msgs" <<'EOF'
import json, shutil, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        name = m["target"]["name"]
        kind = m["target"]["kind"][0]
        pkg = m["package_id"].split("#")[0].rsplit("/", 1)[-1]
        mpi = "mpi-" if name in ("mpi_collectives", "mpi_fit", "distribute", "distributed") else ""
        shutil.copy(m["executable"], f".gpu/bin/{mpi}{pkg}-{kind}-{name}")
        print("packed", pkg, kind, name)
EOF
    strip .gpu/bin/*
    echo "$PWD" >.gpu/build_root
    tar -C .gpu -cJf .gpu/bins.tar.xz bin build_root
    rm -rf .gpu/bin
    ls -l .gpu/bins.tar.xz
    ;;
run)
    # Logs go to /tmp/gpu_out, packed into $OUT/logs.tgz at the end (the device tool
    # brings back at most 8 files).
    out=/tmp/gpu_out
    mkdir -p "$out"
    tar -C .gpu -xJf .gpu/bins.tar.xz
    build_root=$(cat .gpu/build_root)
    if [ "$build_root" != "$root" ] && [ ! -e "$build_root" ]; then
        mkdir -p "$(dirname "$build_root")"
        ln -s "$root" "$build_root"
    fi
    # Library directories: pip wheels (nvidia/*/lib, nvidia/cu13/lib), CUDA toolkit.
    libdirs=$(find /usr /opt /lib -xdev \( -name 'libnvrtc.so*' -o -name 'libcublas.so*' \
        -o -name 'libcurand.so*' -o -name 'libnccl.so*' -o -name 'libcuda.so*' \) \
        -print 2>/dev/null | xargs -r -n1 dirname | sort -u)
    {
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv
        echo "library dirs:"
        echo "$libdirs"
        for d in $libdirs; do ls "$d" | grep -E 'nvrtc|cublas|curand|nccl' | tr '\n' ' '; echo; done
        which mpirun || echo "no mpirun"
        ldconfig -p | grep -E 'libmpi|libcuda\.' || true
    } 2>&1 | tee "$out/env.txt"
    export LD_LIBRARY_PATH=$(echo $libdirs | tr ' ' ':')${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    # cudarc looks for the unversioned names first; pip wheels ship only versioned ones.
    shim=/tmp/gpu_shim
    mkdir -p $shim
    for d in $libdirs; do
        for f in "$d"/lib*.so.*; do
            base=$(basename "$f" | sed -E 's/\.so\..*/.so/')
            [ -e "$shim/$base" ] || ln -s "$f" "$shim/$base"
        done
    done
    export LD_LIBRARY_PATH=$shim:$LD_LIBRARY_PATH
    status=0
    for t in .gpu/bin/tf-*-test-*; do
        name=$(basename "$t")
        echo "==> $name"
        pkg=${name%%-test-*}
        (cd "crates/$pkg" && "$root/$t" --nocapture --test-threads=1) >"$out/$name.log" 2>&1
        rc=$?
        grep -E "^test result|SKIPPED|panicked|FAILED" "$out/$name.log" | head -20
        [ $rc -ne 0 ] && { echo "    FAILED rc=$rc"; status=1; }
        case "$name" in *-cuda_absent) ;; *) grep -q SKIPPED "$out/$name.log" && { echo "    a test skipped"; status=1; } ;; esac
    done
    echo "==> train_digits --gpu"
    (cd crates/tf-keras && TF_CPP_LOG_PLACEMENT=1 ../../.gpu/bin/tf-keras-example-train_digits --gpu --save /tmp/digits_gpu.keras) >"$out/train_digits.log" 2>&1 || status=1
    tail -5 "$out/train_digits.log"
    for b in .gpu/bin/tf-*-bench-*; do
        name=$(basename "$b")
        pkg=${name%%-bench-*}
        echo "==> $name"
        (cd "crates/$pkg" && timeout 300 "$root/$b" --bench) >"$out/$name.log" 2>&1 || status=1
        grep -E "BENCH|SKIPPED|rror" "$out/$name.log" | tail -10
    done
    if which mpirun >/dev/null; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
        for t in .gpu/bin/mpi-*-test-*; do
            [ -e "$t" ] || continue
            name=$(basename "$t")
            pkg=${name#mpi-}
            pkg=${pkg%%-test-*}
            echo "==> mpirun -np 2 $name"
            (cd "crates/$pkg" && timeout 300 mpirun -np 2 --mca btl self,vader "$root/$t") >"$out/$name.log" 2>&1 || { echo "    FAILED"; status=1; }
            tail -3 "$out/$name.log"
        done
        # The data-parallel benches on a quiet machine (shared memory, as `cargo xtask bench`).
        for b in .gpu/bin/mpi-*-bench-*; do
            [ -e "$b" ] || continue
            name=$(basename "$b")
            pkg=${name#mpi-}
            pkg=${pkg%%-bench-*}
            echo "==> mpirun -np 2 $name"
            (cd "crates/$pkg" && timeout 200 mpirun -np 2 --mca btl self,vader "$root/$b" --bench) >"$out/$name.log" 2>&1 || { echo "    FAILED"; status=1; }
            grep -E "BENCH|rror" "$out/$name.log" | tail -14
        done
    fi
    # An independent reference on the same GPU: PyTorch's matmul (TF32 off for float32).
    echo "==> PyTorch reference"
    python3 - <<'EOF' 2>&1 | tee "$out/torch.txt"
import torch
torch.backends.cuda.matmul.allow_tf32 = False
n = 4096
for dt in (torch.float32, torch.bfloat16):
    a = torch.randn(n, n, device="cuda").to(dt)
    b = torch.randn(n, n, device="cuda").to(dt)
    for _ in range(5):
        a @ b
    times = []
    for _ in range(7):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(20):
            a @ b
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) / 20 / 1e3)
    t = sorted(times)[3]
    print(f"torch {torch.__version__} matmul {n}x{n} {dt}: {2 * n**3 / t / 1e12:.1f} TFLOP/s")
EOF
    [ -n "${OUT:-}" ] && tar -C "$out" -czf "$OUT/logs.tgz" .
    echo "gpu_check status=$status"
    exit $status
    ;;
*)
    echo "usage: $0 pack|run" >&2
    exit 2
    ;;
esac
