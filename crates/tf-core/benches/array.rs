//! Array ops: eager overhead of views, and bandwidth of the copying ops (concat, gather,
//! tile, mirror pad, negative-stride slice, reverse) compared with a plain `memcpy` of
//! the same output size on the same machine (the ceiling for a copy). Figures are
//! indicative: the machine is shared and has 2 cores.

use tf_bench::{Figure, measure};
use tf_core::ops::{self, SliceMasks};
use tf_core::{DType, Tensor};

/// GB/s for writing `bytes` of output in `secs`.
fn gbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

/// `memcpy` bandwidth for `bytes` (a `Vec<u8>` clone).
fn memcpy_gbps(bytes: usize) -> f64 {
    let src = vec![1u8; bytes];
    let t = measure(|| src.clone());
    gbps(bytes, t.median_s)
}

fn copy_figure(name: &str, out: &Tensor, secs: f64) {
    let bytes = out.num_elements() * out.dtype().size_of();
    Figure::new(name, gbps(bytes, secs), "GB/s")
        .compare("memcpy of the same size", memcpy_gbps(bytes))
        .report();
}

fn main() -> tf_core::Result<()> {
    // Eager overhead of a view op (dispatch + inference + view).
    let x = Tensor::from_vec(vec![1.0f32; 6], [2, 3])?;
    let t = measure(|| ops::transpose(&x, None));
    Figure::new("eager transpose view, 2x3 f32", t.median_s * 1e6, "us")
        .lower_is_better()
        .compare("TensorFlow 2.21 eager tf.add (dispatch reference)", 15.5)
        .report();
    let t = measure(|| ops::slice(&x, &[0, 1], &[-1, 2]));
    Figure::new("eager slice view, 2x3 f32", t.median_s * 1e6, "us")
        .lower_is_better()
        .report();

    // Copies of 4 MiB-class outputs.
    let a = Tensor::ones([1024, 512], DType::F32)?;
    let b = Tensor::zeros([1024, 512], DType::F32)?;
    let out = ops::concat(&[a.clone(), b.clone()], 1)?;
    let t = measure(|| ops::concat(&[a.clone(), b.clone()], 1));
    copy_figure("concat 2 x [1024,512] f32 on axis 1", &out, t.median_s);

    let params = Tensor::ones([20_000, 256], DType::F32)?;
    let idx: Vec<i32> = (0..4096).map(|i| (i * 7919) % 20_000).collect();
    let indices = Tensor::vector(&idx);
    let out = ops::gather(&params, &indices, 0, 0)?;
    let t = measure(|| ops::gather(&params, &indices, 0, 0));
    copy_figure("gather 4096 rows of [20000,256] f32", &out, t.median_s);

    let small = Tensor::ones([256, 256], DType::F32)?;
    let out = small.tile(&[4, 4])?;
    let t = measure(|| small.tile(&[4, 4]));
    copy_figure("tile [256,256] f32 by [4,4]", &out, t.median_s);

    let img = Tensor::ones([1024, 1024], DType::F32)?;
    let out = ops::mirror_pad(&img, &[[8, 8], [8, 8]], "REFLECT")?;
    let t = measure(|| ops::mirror_pad(&img, &[[8, 8], [8, 8]], "REFLECT"));
    copy_figure("mirror_pad REFLECT [1024,1024] f32 by 8", &out, t.median_s);

    let out = img.reverse(&[1])?;
    let t = measure(|| img.reverse(&[1]));
    copy_figure("reverse [1024,1024] f32 on axis 1", &out, t.median_s);

    let masks = SliceMasks {
        begin_mask: 0b11,
        end_mask: 0b11,
        ..Default::default()
    };
    let out = ops::strided_slice(&img, &[0, 0], &[0, 0], &[-1, -2], masks)?;
    let t = measure(|| ops::strided_slice(&img, &[0, 0], &[0, 0], &[-1, -2], masks));
    copy_figure(
        "strided_slice [::-1, ::-2] of [1024,1024] f32",
        &out,
        t.median_s,
    );
    Ok(())
}
