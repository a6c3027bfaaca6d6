/* Correctly rounded square roots for MKL's vector-math entry points vmsSqrt / vmdSqrt.
 *
 * PyTorch's CPU build computes torch.sqrt on float tensors with MKL VML (vmsSqrt, high-accuracy
 * mode: within 1 ulp, not correctly rounded). Under MKL_CBWR=COMPATIBLE (the one MKL branch that
 * Intel and AMD CPUs share) VML's square root starts from the CPU's approximate reciprocal square
 * root (rsqrtps), whose table differs between CPU vendors, so torch.sqrt -- and through it Adam's
 * update and every Euclidean distance -- gives different last bits on different CPUs.
 *
 * libtorch_cpu.so calls vmsSqrt/vmdSqrt through its PLT, so this library, loaded into the global
 * symbol scope before torch (lib/mlcompanion/_cpu_pins.py does that at interpreter start-up), takes those calls.
 * IEEE 754 square root is correctly rounded, hence the same bits on every CPU. The signature is
 * MKL's LP64 one (PyTorch links the LP64 interface): void vmsSqrt(MKL_INT n, const float *a,
 * float *r, MKL_INT64 mode), MKL_INT = int. The mode (accuracy, error handling) is irrelevant to an
 * exact result; MKL's VML never sets errno for sqrt in PyTorch's error-ignoring mode, nor does this.
 */
#include <math.h>
#include <stdint.h>

static volatile long long companion_calls = 0;

void vmsSqrt(int n, const float *a, float *r, long long mode) {
    (void)mode;
    for (int i = 0; i < n; ++i) r[i] = sqrtf(a[i]);
    companion_calls += 1;
}

void vmdSqrt(int n, const double *a, double *r, long long mode) {
    (void)mode;
    for (int i = 0; i < n; ++i) r[i] = sqrt(a[i]);
    companion_calls += 1;
}

/* How many vmsSqrt/vmdSqrt calls this library has served (mlcompanion.repro checks it is in effect). */
long long companion_exact_sqrt_calls(void) { return companion_calls; }
