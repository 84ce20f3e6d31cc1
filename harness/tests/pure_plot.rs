//! The plot is a PNG of the requested size, with text drawn from the embedded font.
//! Set NFQB_PLOT_OUT=/tmp/plot-test.png to keep the picture and look at it.

use harness::model::{Impl, RunSeries, Sample};
use harness::plot;

fn run(implementation: Impl, run: u32, values: &[f64]) -> RunSeries {
    RunSeries {
        implementation,
        run,
        samples: values
            .iter()
            .zip(1..)
            .map(|(v, second)| Sample {
                run,
                second,
                bits_per_second: v * 1e9,
                packets_per_second: Some(v * 1e4),
            })
            .collect(),
    }
}

fn benchmark() -> Vec<RunSeries> {
    vec![
        run(Impl::None, 1, &[1.09, 34.17, 36.04, 37.28, 33.65, 33.09]),
        run(Impl::None, 2, &[0.0, 35.01, 34.15, 36.22, 34.49, 36.14]),
        run(Impl::None, 3, &[2.3, 36.2, 35.1, 34.9, 35.8, 36.4]),
        run(Impl::C, 1, &[0.6, 15.6, 16.8, 17.6, 16.1, 15.9]),
        run(Impl::C, 2, &[0.4, 16.2, 15.7, 16.6, 17.2, 16.9]),
        run(Impl::C, 3, &[0.9, 17.1, 16.4, 15.8, 16.0, 16.7]),
        run(Impl::Rust, 1, &[0.7, 18.4, 19.1, 17.9, 18.8, 18.2]),
        run(Impl::Rust, 2, &[0.5, 16.4, 17.8, 18.6, 19.0, 18.1]),
        run(Impl::Rust, 3, &[1.1, 18.9, 18.3, 18.7, 17.6, 19.1]),
    ]
}

/// Width, height and RGB(A) pixels of a PNG.
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>, usize) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    (
        frame.width,
        frame.height,
        pixels,
        frame.color_type.samples(),
    )
}

#[test]
fn png_of_the_requested_size() {
    let title = "TCP bandwidth, 1 stream (ethr v1.0.0, 3 runs each)";
    let bytes = plot::render_png(&benchmark(), title, 1200, 700).unwrap();
    if let Ok(path) = std::env::var("NFQB_PLOT_OUT") {
        std::fs::write(&path, &bytes).unwrap();
    }
    let (w, h, pixels, channels) = decode(&bytes);
    assert_eq!((w, h), (1200, 700));

    // The title is the only thing drawn in the top 40 pixels: dark pixels there prove the
    // embedded font rendered text.
    let dark = |y0: usize, y1: usize| {
        (y0..y1)
            .flat_map(|y| (0..w as usize).map(move |x| (y * w as usize + x) * channels))
            .filter(|&i| pixels[i..i + 3].iter().all(|&c| c < 100))
            .count()
    };
    assert!(
        dark(0, 40) > 500,
        "no title text drawn ({} dark pixels)",
        dark(0, 40)
    );

    // The three colours are all there.
    let has = |rgb: [u8; 3]| pixels.chunks(channels).any(|p| p[..3] == rgb);
    assert!(has([31, 100, 200]) && has([210, 40, 40]) && has([120, 120, 120]));

    // Without a title the top strip stays empty.
    let bytes = plot::render_png(&benchmark(), "", 1200, 700).unwrap();
    let (_, _, pixels_untitled, _) = decode(&bytes);
    let dark_untitled = (0..40 * w as usize)
        .map(|i| i * channels)
        .filter(|&i| pixels_untitled[i..i + 3].iter().all(|&c| c < 100))
        .count();
    assert_eq!(dark_untitled, 0);
}

#[test]
fn one_run_and_no_data_still_make_pictures() {
    let one = vec![run(Impl::C, 1, &[0.5, 15.0, 16.0])];
    let (w, h, _, _) = decode(&plot::render_png(&one, "one run", 800, 500).unwrap());
    assert_eq!((w, h), (800, 500));
    let (w, h, _, _) = decode(&plot::render_png(&[], "nothing measured", 640, 400).unwrap());
    assert_eq!((w, h), (640, 400));
    assert!(plot::render_png(&one, "too small", 10, 10).is_err());
}

#[test]
fn packets_per_second_plot() {
    let spec = plot::PlotSpec {
        title: "UDP 64-byte packets (ethr)",
        width: 900,
        height: 600,
        metric: harness::model::Metric::PacketsPerSecond,
        excluded_first: 1,
    };
    let (w, h, _, _) = decode(&plot::render_png_with(&benchmark(), &spec).unwrap());
    assert_eq!((w, h), (900, 600));
}
