//! Progress bars on stderr (indicatif), shared by `engine sample` and `engine train`: hidden
//! when not wanted, so callers need no second code path.

/// A bar of `len` steps labelled `msg`, or a hidden one when `show` is false.
pub fn bar(show: bool, len: u64, msg: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} steps, {per_sec}, eta {eta}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_message(msg.to_string());
    bar
}
