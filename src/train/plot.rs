//! The pictures at the end of a run: the loss curve and a grid of validation samples, drawn
//! into plain RGB buffers (no plotting dependency).

use std::path::Path;

use crate::error::Result;
use crate::imageio::save_png;

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas { w, h, px: vec![255; w * h * 3] }
    }
    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let i = (y as usize * self.w + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }
    /// Bresenham.
    fn line(&mut self, (mut x0, mut y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3]) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let mut err = dx + dy;
        loop {
            self.set(x0, y0, c);
            if x0 == x1 && y0 == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x0 += sx;
            }
            if e2 <= dx {
                err += dx;
                y0 += sy;
            }
        }
    }
}

/// Loss per step (light grey) and its exponential moving average (blue), on a log scale, with
/// a frame and one tick line per decade.
pub fn loss_curve(path: &Path, losses: &[(usize, f64)]) -> Result<()> {
    let (w, h, m) = (800usize, 400usize, 30i64);
    let mut c = Canvas::new(w, h);
    let pts: Vec<(usize, f64)> = losses.iter().copied().filter(|(_, l)| l.is_finite() && *l > 0.0).collect();
    let frame = [0, 0, 0];
    let (x0, y0, x1, y1) = (m, m, w as i64 - m, h as i64 - m);
    for (a, b) in [((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))] {
        c.line(a, b, frame);
    }
    if pts.len() >= 2 {
        let (lo, hi) = pts.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (_, l)| (lo.min(l.log10()), hi.max(l.log10())));
        let (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
        let (s0, s1) = (pts[0].0 as f64, pts[pts.len() - 1].0.max(pts[0].0 + 1) as f64);
        let map = |s: usize, l: f64| {
            let x = x0 as f64 + (s as f64 - s0) / (s1 - s0) * (x1 - x0) as f64;
            let y = y1 as f64 - (l.log10() - lo) / (hi - lo) * (y1 - y0) as f64;
            (x.round() as i64, y.round() as i64)
        };
        let mut d = lo;
        while d <= hi {
            let y = (y1 as f64 - (d - lo) / (hi - lo) * (y1 - y0) as f64).round() as i64;
            c.line((x0, y), (x1, y), [220, 220, 220]);
            d += 1.0;
        }
        for p in pts.windows(2) {
            c.line(map(p[0].0, p[0].1), map(p[1].0, p[1].1), [190, 190, 190]);
        }
        let mut ema = pts[0].1;
        let mut prev = map(pts[0].0, ema);
        for &(s, l) in &pts[1..] {
            ema = 0.95 * ema + 0.05 * l;
            let p = map(s, ema);
            c.line(prev, p, [30, 80, 200]);
            c.line((prev.0, prev.1 + 1), (p.0, p.1 + 1), [30, 80, 200]);
            prev = p;
        }
    }
    save_png(path, w, h, &c.px, &[("Title", "training loss per step (grey) and its EMA (blue), log scale".to_string())])
}

/// Images (each h x w RGB) in rows of `cols`, 4-pixel white gutters.
pub fn grid(path: &Path, images: &[(usize, usize, Vec<u8>)], cols: usize, title: &str) -> Result<()> {
    let Some((h, w, _)) = images.first() else { return Ok(()) };
    let (h, w, g) = (*h, *w, 4usize);
    let cols = cols.max(1).min(images.len());
    let rows = images.len().div_ceil(cols);
    let (gw, gh) = (cols * w + (cols + 1) * g, rows * h + (rows + 1) * g);
    let mut px = vec![255u8; gw * gh * 3];
    for (i, (ih, iw, img)) in images.iter().enumerate() {
        if *ih != h || *iw != w {
            continue;
        }
        let (ox, oy) = (g + (i % cols) * (w + g), g + (i / cols) * (h + g));
        for y in 0..h {
            let dst = ((oy + y) * gw + ox) * 3;
            px[dst..dst + w * 3].copy_from_slice(&img[y * w * 3..(y + 1) * w * 3]);
        }
    }
    save_png(path, gw, gh, &px, &[("Title", title.to_string())])
}
