//! Finite-difference sample calls for the convolution and pooling ops and their
//! gradient ops: several strides, paddings (SAME, VALID, EXPLICIT), dilations, channel
//! counts and multipliers. Pool inputs are random (ties have probability zero, so the
//! argmax does not move under the finite-difference step).

use super::{Case, uniform};
use rand::rngs::StdRng;
use tf_core::op::Attrs;

/// A window configuration: strides, padding (`Some` = explicit `[t, b, l, r]`),
/// dilations.
#[derive(Clone, Copy)]
struct Win {
    s: [i64; 2],
    pad: &'static str,
    explicit: [i64; 4],
    d: [i64; 2],
}

const fn win(s: [i64; 2], pad: &'static str, d: [i64; 2]) -> Win {
    Win {
        s,
        pad,
        explicit: [0; 4],
        d,
    }
}

/// Convolution configurations: (input `[n, h, w, c]`, kernel `[kh, kw]`, window).
const CONVS: &[([usize; 4], [usize; 2], Win)] = &[
    ([2, 5, 5, 2], [3, 3], win([1, 1], "SAME", [1, 1])),
    ([1, 6, 5, 3], [2, 3], win([2, 2], "VALID", [1, 1])),
    ([1, 7, 6, 2], [3, 2], win([2, 1], "SAME", [2, 1])),
    (
        [1, 4, 5, 2],
        [2, 2],
        Win {
            s: [1, 2],
            pad: "EXPLICIT",
            explicit: [1, 2, 0, 1],
            d: [1, 2],
        },
    ),
];

/// Pool configurations: (input, ksize, strides, padding).
const POOLS: &[([usize; 4], [usize; 2], [i64; 2], &str)] = &[
    ([2, 4, 4, 2], [2, 2], [2, 2], "VALID"),
    ([1, 5, 5, 2], [3, 3], [2, 2], "SAME"),
    ([1, 5, 4, 3], [2, 3], [1, 1], "VALID"),
    ([1, 3, 4, 1], [3, 2], [1, 2], "SAME"),
];

impl Win {
    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new()
            .with("strides", vec![1, self.s[0], self.s[1], 1])
            .with("dilations", vec![1, self.d[0], self.d[1], 1])
            .with("padding", self.pad);
        if self.pad == "EXPLICIT" {
            let [t, b, l, r] = self.explicit;
            a.set("explicit_paddings", vec![0, 0, t, b, l, r, 0, 0]);
        }
        a
    }

    /// Output size of one spatial axis (TensorFlow's formulas).
    fn out(&self, axis: usize, input: usize, k: usize) -> usize {
        let (i, k, s, d) = (input as i64, k as i64, self.s[axis], self.d[axis]);
        let k_eff = (k - 1) * d + 1;
        let o = match self.pad {
            "SAME" => (i + s - 1) / s,
            "VALID" => (i - k_eff + s) / s,
            _ => {
                let p = self.explicit[2 * axis] + self.explicit[2 * axis + 1];
                (i + p - k_eff + s) / s
            }
        };
        o as usize
    }
}

fn sizes(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&d| d as i64).collect()
}

fn pool_attrs(k: [usize; 2], s: [i64; 2], pad: &'static str) -> Attrs {
    Attrs::new()
        .with("ksize", vec![1, k[0] as i64, k[1] as i64, 1])
        .with("strides", vec![1, s[0], s[1], 1])
        .with("padding", pad)
}

/// Cases of a convolution family op: `depthwise` picks the depthwise shapes (the
/// filter's last dimension is then a multiplier).
fn conv_cases(name: &str, depthwise: bool, r: &mut StdRng) -> Vec<Case> {
    let mut out = Vec::new();
    for (i, &(xd, k, w)) in CONVS.iter().enumerate() {
        let o = if depthwise { 1 + i % 2 } else { 2 + i % 2 };
        let fd = [k[0], k[1], xd[3], o];
        let oc = if depthwise { xd[3] * o } else { o };
        let yd = [xd[0], w.out(0, xd[1], k[0]), w.out(1, xd[2], k[1]), oc];
        let label = format!("x{xd:?} k{k:?} {} s{:?} d{:?}", w.pad, w.s, w.d);
        let x = uniform(r, &xd, -1.0, 1.0);
        let f = uniform(r, &fd, -1.0, 1.0);
        let dy = uniform(r, &yd, -1.0, 1.0);
        let case = match name {
            "forward" => Case::new(label, vec![x, f], w.attrs()),
            "input" => Case::new(
                label,
                vec![f, dy],
                w.attrs().with("input_sizes", sizes(&xd)),
            ),
            _ => Case::new(
                label,
                vec![x, dy],
                w.attrs().with("filter_sizes", sizes(&fd)),
            ),
        };
        out.push(case);
    }
    out
}

fn max_pool_cases(r: &mut StdRng, which: &str) -> Vec<Case> {
    let mut out = Vec::new();
    for &(xd, k, s, pad) in POOLS {
        let attrs = pool_attrs(k, s, pad);
        let x = uniform(r, &xd, -2.0, 2.0);
        let label = format!("x{xd:?} k{k:?} s{s:?} {pad}");
        if which == "MaxPool" {
            out.push(Case::new(label, vec![x], attrs));
            continue;
        }
        let y = tf_core::op::call1(&tf_core::ops::MAX_POOL, std::slice::from_ref(&x), &attrs)
            .expect("max pool of a case");
        let g = if which == "MaxPoolGrad" {
            uniform(r, y.dims(), -1.0, 1.0)
        } else {
            uniform(r, &xd, -1.0, 1.0)
        };
        out.push(Case::new(label, vec![x, y, g], attrs));
    }
    out
}

fn avg_pool_cases(r: &mut StdRng, grad: bool) -> Vec<Case> {
    let mut out = Vec::new();
    for &(xd, k, s, pad) in POOLS {
        let attrs = pool_attrs(k, s, pad);
        let label = format!("x{xd:?} k{k:?} s{s:?} {pad}");
        let x = uniform(r, &xd, -2.0, 2.0);
        if !grad {
            out.push(Case::new(label, vec![x], attrs));
            continue;
        }
        let y = tf_core::op::call1(&tf_core::ops::AVG_POOL, std::slice::from_ref(&x), &attrs)
            .expect("avg pool of a case");
        let dy = uniform(r, y.dims(), -1.0, 1.0);
        out.push(Case::new(
            label,
            vec![dy],
            attrs.with("orig_input_shape", sizes(&xd)),
        ));
    }
    out
}

pub fn cases(name: &str, r: &mut StdRng) -> Option<Vec<Case>> {
    Some(match name {
        "Conv2D" => conv_cases("forward", false, r),
        "Conv2DBackpropInput" => conv_cases("input", false, r),
        "Conv2DBackpropFilter" => conv_cases("filter", false, r),
        "DepthwiseConv2dNative" => conv_cases("forward", true, r),
        "DepthwiseConv2dNativeBackpropInput" => conv_cases("input", true, r),
        "DepthwiseConv2dNativeBackpropFilter" => conv_cases("filter", true, r),
        "MaxPool" | "MaxPoolGrad" | "MaxPoolGradGrad" => max_pool_cases(r, name),
        "AvgPool" => avg_pool_cases(r, false),
        "AvgPoolGrad" => avg_pool_cases(r, true),
        _ => return None,
    })
}
