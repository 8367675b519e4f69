//! NumPy-like printing, TensorFlow style:
//! `tf.Tensor([1. 2.5], shape=(2,), dtype=float32)`. Tensors with more than 1000 elements
//! are summarised with `...` (three items at each edge), as NumPy does.

use super::Tensor;
use crate::dtype::DType;
use std::fmt;

const THRESHOLD: usize = 1000;
const EDGE: usize = 3;

fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Scientific like NumPy: 1.2345e-05
        let s = format!("{v:.8e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = mant.trim_end_matches('0').trim_end_matches('.');
        let exp: i32 = exp.parse().unwrap_or(0);
        return format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    if v.fract() == 0.0 {
        return format!("{v:.0}.");
    }
    let s = format!("{v:.8}");
    s.trim_end_matches('0').to_string()
}

fn format_elements(t: &Tensor) -> Option<Vec<String>> {
    let host = t.to_host().ok()?;
    let values = host.to_f64_vec().ok()?;
    Some(match t.dtype() {
        DType::Bool => values
            .iter()
            .map(|&v| {
                if v != 0.0 {
                    "True".into()
                } else {
                    "False".into()
                }
            })
            .collect(),
        d if d.is_float() => values.iter().map(|&v| fmt_float(v)).collect(),
        DType::I64 => {
            // f64 loses precision beyond 2^53: print i64 from its own values.
            host.to_vec::<i64>()
                .ok()?
                .iter()
                .map(|v| v.to_string())
                .collect()
        }
        _ => values.iter().map(|&v| format!("{v:.0}")).collect(),
    })
}

/// Aligns plain decimals on the point like NumPy (`" 1.  "`, `"-3.25"`); leaves the
/// column alone when any item is in scientific notation or not finite.
fn align_decimals(items: Vec<String>) -> Vec<String> {
    if items.iter().any(|s| !s.contains('.') || s.contains('e')) {
        return items;
    }
    let split = |s: &str| {
        s.split_once('.')
            .map(|(l, r)| (l.len(), r.len()))
            .unwrap_or((s.len(), 0))
    };
    let (left, right) = items.iter().fold((0, 0), |(l, r), s| {
        let (a, b) = split(s);
        (l.max(a), r.max(b))
    });
    items
        .iter()
        .map(|s| {
            let (a, b) = split(s);
            format!("{}{s}{}", " ".repeat(left - a), " ".repeat(right - b))
        })
        .collect()
}

/// Indices shown along an axis of size `d` (`None` marks the ellipsis).
fn shown(d: usize, summarize: bool) -> Vec<Option<usize>> {
    if summarize && d > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain([None])
            .chain((d - EDGE..d).map(Some))
            .collect()
    } else {
        (0..d).map(Some).collect()
    }
}

fn write_axis(
    out: &mut String,
    items: &[String],
    dims: &[usize],
    axis: usize,
    base: usize,
    width: usize,
    summarize: bool,
) {
    let rank = dims.len();
    let stride: usize = dims[axis + 1..].iter().product();
    out.push('[');
    let idx = shown(dims[axis], summarize);
    for (k, i) in idx.iter().enumerate() {
        if k > 0 {
            if axis + 1 == rank {
                out.push(' ');
            } else {
                let blank = rank - axis - 1;
                out.push_str(&"\n".repeat(blank));
                out.push_str(&" ".repeat(axis + 1));
            }
        }
        match i {
            None => out.push_str("..."),
            Some(i) => {
                if axis + 1 == rank {
                    out.push_str(&format!("{:>width$}", items[base + i * stride]));
                } else {
                    write_axis(
                        out,
                        items,
                        dims,
                        axis + 1,
                        base + i * stride,
                        width,
                        summarize,
                    );
                }
            }
        }
    }
    out.push(']');
}

fn body(t: &Tensor) -> String {
    let Some(items) = format_elements(t) else {
        return "<unreadable>".into();
    };
    if t.rank() == 0 {
        return items.first().cloned().unwrap_or_default();
    }
    let summarize = t.num_elements() > THRESHOLD;
    let items = if t.dtype().is_float() {
        align_decimals(items)
    } else {
        items
    };
    let width = items.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    write_axis(&mut out, &items, t.dims(), 0, 0, width, summarize);
    out
}

fn py_shape(dims: &[usize]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|&d| {
            if d == crate::Shape::UNKNOWN {
                "None".into()
            } else {
                d.to_string()
            }
        })
        .collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_symbolic() {
            return write!(
                f,
                "<symbolic tf.Tensor shape={} dtype={}>",
                py_shape(self.dims()),
                self.dtype()
            );
        }
        let body = body(self);
        let sep = if self.rank() > 1 { "\n" } else { "" };
        write!(
            f,
            "tf.Tensor({sep}{body}, shape={}, dtype={}",
            py_shape(self.dims()),
            self.dtype()
        )?;
        if self.device() != crate::Device::Cpu {
            write!(f, ", device={}", self.device())?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    #[test]
    fn prints_like_tensorflow() {
        let t = Tensor::from_vec(vec![1.0f32, 2.5, -3.0, 0.125], [2, 2]).unwrap();
        assert_eq!(
            t.to_string(),
            "tf.Tensor(\n[[ 1.     2.5  ]\n [-3.     0.125]], shape=(2, 2), dtype=float32)"
        );
        assert_eq!(
            Tensor::vector(&[1i32, 22]).to_string(),
            "tf.Tensor([ 1 22], shape=(2,), dtype=int32)"
        );
        assert_eq!(
            Tensor::from_scalar(true).to_string(),
            "tf.Tensor(True, shape=(), dtype=bool)"
        );
        assert_eq!(
            Tensor::from_scalar(1e-7f64).to_string(),
            "tf.Tensor(1e-07, shape=(), dtype=float64)"
        );
        assert_eq!(
            Tensor::zeros([0], DType::F32).unwrap().to_string(),
            "tf.Tensor([], shape=(0,), dtype=float32)"
        );
    }

    #[test]
    fn large_tensors_are_elided() {
        let t = Tensor::range(0.0, 2000.0, 1.0, DType::I64).unwrap();
        let s = t.to_string();
        assert_eq!(
            s,
            "tf.Tensor([   0    1    2 ... 1997 1998 1999], shape=(2000,), dtype=int64)"
        );
        let m = Tensor::zeros([100, 100], DType::I32).unwrap().to_string();
        assert!(m.contains("...") && m.len() < 400, "{m}");
    }
}
