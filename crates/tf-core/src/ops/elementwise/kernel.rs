//! Generic elementwise kernels: unary maps and broadcasting binary maps over any views,
//! with contiguous and scalar fast paths that the compiler vectorizes, in parallel
//! above a size threshold.

use crate::dtype::Element;
use crate::error::Result;
use crate::kernels::parallel::{fill_vec, map_into, zip_into};
use crate::kernels::strided::{for_each_offsets, split_rows};
use crate::shape::{Shape, broadcast_strides};
use crate::tensor::Tensor;

/// `out[i] = f(x[i])` over a tensor of any layout.
pub fn unary_map<T: Element, O: Element>(
    x: &Tensor,
    f: impl Fn(T) -> O + Sync + Copy,
) -> Result<Tensor> {
    let v = x.strided::<T>()?;
    let n = v.len();
    let out = match v.as_contiguous() {
        Some(src) => fill_vec(n, |start, chunk| {
            map_into(&src[start..start + chunk.len()], chunk, f)
        }),
        None => {
            let data = v.to_vec();
            fill_vec(n, |start, chunk| {
                map_into(&data[start..start + chunk.len()], chunk, f)
            })
        }
    };
    Tensor::from_host_vec(out, x.shape().clone())
}

/// `out = f(a, b)` with NumPy broadcasting to `out_shape` (already inferred).
pub fn binary_map<T: Element, O: Element>(
    a: &Tensor,
    b: &Tensor,
    out_shape: &Shape,
    f: impl Fn(T, T) -> O + Sync + Copy,
) -> Result<Tensor> {
    let av = a.strided::<T>()?;
    let bv = b.strided::<T>()?;
    let n = out_shape.num_elements();
    if let (Some(x), Some(y)) = (av.as_contiguous(), bv.as_contiguous()) {
        if x.len() == n && y.len() == n {
            let out = fill_vec(n, |s, c| {
                zip_into(&x[s..s + c.len()], &y[s..s + c.len()], c, f)
            });
            return Tensor::from_host_vec(out, out_shape.clone());
        }
        if y.len() == 1 && x.len() == n {
            let k = y[0];
            let out = fill_vec(n, |s, c| map_into(&x[s..s + c.len()], c, |p| f(p, k)));
            return Tensor::from_host_vec(out, out_shape.clone());
        }
        if x.len() == 1 && y.len() == n {
            let k = x[0];
            let out = fill_vec(n, |s, c| map_into(&y[s..s + c.len()], c, |q| f(k, q)));
            return Tensor::from_host_vec(out, out_shape.clone());
        }
    }
    // General case: walk output rows; each operand advances by its broadcast stride.
    let sa = broadcast_strides(a.dims(), a.strides(), out_shape);
    let sb = broadcast_strides(b.dims(), b.strides(), out_shape);
    let (outer, inner) = split_rows(out_shape);
    let r = outer.len();
    let (ia, ib) = (
        sa.get(r).copied().unwrap_or(0),
        sb.get(r).copied().unwrap_or(0),
    );
    let mut out: Vec<O> = Vec::with_capacity(n);
    for_each_offsets(
        outer,
        [&sa[..r], &sb[..r]],
        [av.offset, bv.offset],
        |[oa, ob]| match (ia, ib) {
            (1, 1) => out.extend(
                av.data[oa..oa + inner]
                    .iter()
                    .zip(&bv.data[ob..ob + inner])
                    .map(|(&p, &q)| f(p, q)),
            ),
            (1, 0) => {
                let q = bv.data[ob];
                out.extend(av.data[oa..oa + inner].iter().map(|&p| f(p, q)))
            }
            (0, 1) => {
                let p = av.data[oa];
                out.extend(bv.data[ob..ob + inner].iter().map(|&q| f(p, q)))
            }
            _ => out.extend((0..inner).map(|j| f(av.data[oa + j * ia], bv.data[ob + j * ib]))),
        },
    );
    Tensor::from_host_vec(out, out_shape.clone())
}
