// remask_apply.wgsl: writes the re-masked weights: with t = state[0] (bits of the threshold) and
//   m = state[1] + 1 (ties to drop),
//     dst[i] = 0      if bits(|w[i]|) < t, or bits(|w[i]|) = t and rank(i) < m,
//     dst[i] = w[i]   otherwise,
//   rank(i) = #{ j < i : bits(|w[j]|) = t } = pre[block] + ties before i inside the block. Exactly
//   round(s·N) entries are dropped, the ties lowest index first. Values are copied as bits.
// Reference: engine/erf/kernel.go (MaskByMagnitude).
// Layout: w [N] u32 bits (the original), state [4] u32, pre [⌈N/4096⌉] u32, dst [N] u32 bits.
// Dispatch: workgroup 256×1×1, one group per block of 4096 entries b = wid.x + wid.y·num_workgroups.x;
//   thread l owns the 16 consecutive entries 4096b + 16l + j (j = 0…15), so that the ties ahead of
//   an entry are pre[b] + (ties of threads < l, from the counts in workgroup memory, 1 KiB) + (ties
//   of this thread so far). The serial count over threads < l runs only in threads holding a tie.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> pre: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;
@group(0) @binding(4) var<uniform> P: Params;

var<workgroup> ties: array<u32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let blk = wid.x + wid.y * nwg.x;
  let first = blk * 4096u + 16u * lid;
  let t = state[0];
  var c = 0u;
  for (var j = 0u; j < 16u; j++) {
    let i = first + j;
    if (i < P.n && (w[i] & 0x7fffffffu) == t) {
      c += 1u;
    }
  }
  ties[lid] = c;
  workgroupBarrier();
  if (first >= P.n) { return; }
  var r = 0u;
  if (c != 0u) {
    r = pre[blk];
    for (var l = 0u; l < lid; l++) {
      r += ties[l];
    }
  }
  let m = state[1] + 1u;
  for (var j = 0u; j < 16u; j++) {
    let i = first + j;
    if (i >= P.n) { break; }
    let raw = w[i];
    let bits = raw & 0x7fffffffu;
    var drop = bits < t;
    if (bits == t) {
      drop = r < m;
      r += 1u;
    }
    dst[i] = select(raw, 0u, drop);
  }
}
