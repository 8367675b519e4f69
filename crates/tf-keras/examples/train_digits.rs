//! The main job: train on the handwritten digits bundled in the repository and report
//! the test accuracy.
//!
//! ```text
//! cargo run --release --example train_digits                  # 64-128-10 MLP with Adam
//! cargo run --release --example train_digits -- --cnn         # a small CNN on the 8x8 images (50 epochs)
//! cargo run --release --example train_digits -- --save m.keras --epochs 40
//! cargo run --release --features cuda --example train_digits -- --gpu   # on GPU 0
//! ```
//!
//! Data: `data/digits/digits.csv.gz` (UCI "Optical Recognition of Handwritten Digits",
//! CC BY 4.0; see `data/digits/README.md`): 1797 images of 8x8 pixels in 0..16. The
//! first 1347 rows train, the last 450 test. Pixels are scaled to [0, 1].

use anyhow::{Context, Result, bail};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::PathBuf;
use tf_core::{DType, Device, Tensor, ops, with_device};
use tf_keras::layers::{Conv2D, Dense, Flatten, Input, MaxPooling2D};
use tf_keras::losses::CategoricalCrossentropy;
use tf_keras::optimizers::Adam;
use tf_keras::{Activation, FitOptions, Model, Sequential};

const TRAIN_ROWS: usize = 1347;
const PIXELS: usize = 64;

struct Args {
    cnn: bool,
    save: PathBuf,
    /// Default: 30 for the MLP, 50 for the CNN.
    epochs: Option<usize>,
    batch_size: usize,
    /// Place the model and the training step on GPU 0 (`--features cuda`).
    gpu: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        cnn: false,
        save: PathBuf::from("digits.keras"),
        epochs: None,
        batch_size: 32,
        gpu: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--cnn" => a.cnn = true,
            "--gpu" => a.gpu = true,
            "--save" => a.save = PathBuf::from(it.next().context("--save needs a path")?),
            "--epochs" => a.epochs = Some(it.next().context("--epochs needs a number")?.parse()?),
            "--batch-size" => {
                a.batch_size = it.next().context("--batch-size needs a number")?.parse()?
            }
            "-h" | "--help" => {
                println!(
                    "usage: train_digits [--cnn] [--gpu] [--save PATH] [--epochs N] [--batch-size N]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(a)
}

/// Reads the CSV: 64 pixel values then the label per row.
fn load_digits() -> Result<(Vec<f32>, Vec<i64>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/digits/digits.csv.gz");
    let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut text = String::new();
    GzDecoder::new(file)
        .read_to_string(&mut text)
        .with_context(|| format!("decompressing {}", path.display()))?;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let vals: Vec<f32> = line
            .split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .with_context(|| format!("line {}: not numbers", i + 1))?;
        if vals.len() != PIXELS + 1 {
            bail!(
                "line {}: expected {} values, got {}",
                i + 1,
                PIXELS + 1,
                vals.len()
            );
        }
        x.extend(vals[..PIXELS].iter().map(|v| v / 16.0));
        y.push(vals[PIXELS] as i64);
    }
    Ok((x, y))
}

fn build_model(cnn: bool) -> Result<Model> {
    let mut model = Sequential::named(if cnn { "digits_cnn" } else { "digits_mlp" });
    if cnn {
        model.add(Input::new(&[8, 8, 1]))?;
        model.add(Conv2D::new(32, &[3]).activation(Activation::Relu))?;
        model.add(MaxPooling2D::new([2, 2]))?;
        model.add(Flatten::new())?;
        model.add(Dense::new(64).activation(Activation::Relu))?;
        model.add(Dense::new(10))?;
    } else {
        model.add(Input::new(&[PIXELS]))?;
        model.add(Dense::new(128).activation(Activation::Relu))?;
        model.add(Dense::new(10))?;
    }
    Ok(model)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let epochs = args.epochs.unwrap_or(if args.cnn { 50 } else { 30 });
    let (x, y) = load_digits()?;
    let n = y.len();
    if n <= TRAIN_ROWS {
        bail!("expected more than {TRAIN_ROWS} rows, found {n}");
    }
    let shape: Vec<usize> = if args.cnn {
        vec![8, 8, 1]
    } else {
        vec![PIXELS]
    };
    let tensor = |rows: std::ops::Range<usize>| -> Result<(Tensor, Tensor)> {
        let mut s = vec![rows.len()];
        s.extend(&shape);
        let xs = Tensor::from_vec(
            x[rows.start * PIXELS..rows.end * PIXELS].to_vec(),
            s.as_slice(),
        )?;
        let labels = Tensor::from_vec(y[rows.clone()].to_vec(), [rows.len()])?;
        // One-hot targets for the label-smoothed cross-entropy.
        let ys = ops::one_hot(&labels, 10, 1.0, 0.0, -1, DType::F32)?;
        Ok((xs, ys))
    };
    let (x_train, y_train) = tensor(0..TRAIN_ROWS)?;
    let (x_test, y_test) = tensor(TRAIN_ROWS..n)?;
    println!(
        "digits: {} training and {} test images ({})",
        TRAIN_ROWS,
        n - TRAIN_ROWS,
        if args.cnn { "CNN" } else { "MLP 64-128-10" }
    );

    let device = if args.gpu {
        Device::Cuda(0)
    } else {
        Device::Cpu
    };
    if args.gpu && tf_core::list_physical_devices(Some("GPU")).is_empty() {
        println!(
            "no GPU listed (build with --features cuda on a machine with a CUDA driver): ops fall back to the CPU"
        );
    }
    with_device(device, || {
        train(&args, epochs, (&x_train, &y_train), (&x_test, &y_test))
    })
}

/// Builds, trains, evaluates and saves the model (on the scope's device).
fn train(
    args: &Args,
    epochs: usize,
    (x_train, y_train): (&Tensor, &Tensor),
    (x_test, y_test): (&Tensor, &Tensor),
) -> Result<()> {
    ops::set_random_seed(42);
    let mut model = build_model(args.cnn)?;
    model.compile(
        Adam::new(1e-3)?,
        CategoricalCrossentropy::new(true).label_smoothing(0.3),
        &["accuracy"],
    )?;
    let start = std::time::Instant::now();
    model.fit(
        x_train,
        y_train,
        FitOptions::new().epochs(epochs).batch_size(args.batch_size),
    )?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "trained {epochs} epochs in {secs:.2} s ({:.0} samples/s)",
        (epochs * TRAIN_ROWS) as f64 / secs
    );
    model.summary()?;
    let logs = model.evaluate(x_test, y_test, 128)?;
    let acc = logs
        .get("accuracy")
        .context("no accuracy in the evaluation logs")?;
    println!("test accuracy: {acc:.4}");
    model
        .save(&args.save)
        .with_context(|| format!("saving {}", args.save.display()))?;
    println!("saved the model to {}", args.save.display());
    Ok(())
}
