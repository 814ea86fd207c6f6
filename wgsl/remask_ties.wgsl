// remask_ties.wgsl: counts, per block of 4096 consecutive entries, the entries whose magnitude
//   equals the threshold t = state[0] (bits): eq[b] = #{ i in [4096b, 4096b+4096) ∩ [0, N) :
//   bits(|w[i]|) = t }. remask_scan turns eq into exclusive prefix sums, so that remask_apply can
//   drop the ties in index order as MaskByMagnitude does.
// Reference: engine/erf/kernel.go (MaskByMagnitude: entries with |w| = t go in index order).
// Layout: w [N] (f32 read as u32 bits), state [4] u32, eq [⌈N/4096⌉] u32.
// Dispatch: workgroup 256×1×1, one group per block b = wid.x + wid.y·num_workgroups.x, thread l
//   the 16 entries 4096b + 256j + l (j = 0…15); the launcher splits ⌈N/4096⌉ groups over x and y.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> eq: array<u32>;
@group(0) @binding(3) var<uniform> P: Params;

var<workgroup> cnt: atomic<u32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  if (lid == 0u) { atomicStore(&cnt, 0u); }
  workgroupBarrier();
  let blk = wid.x + wid.y * nwg.x;
  let t = state[0];
  var c = 0u;
  for (var j = 0u; j < 16u; j++) {
    let i = blk * 4096u + 256u * j + lid;
    if (i < P.n && (w[i] & 0x7fffffffu) == t) {
      c += 1u;
    }
  }
  if (c != 0u) { atomicAdd(&cnt, c); }
  workgroupBarrier();
  if (lid == 0u && blk * 4096u < P.n) {
    eq[blk] = atomicLoad(&cnt);
  }
}
