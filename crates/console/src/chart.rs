//! Charts drawn on the server as SVG inside the page (no script, nothing fetched): a column per
//! period, a bar per share. Every text in them is escaped here; each mark carries a `<title>` with
//! its exact figure, which browsers show on hover and screen readers read.

/// Escapes text for SVG (XML).
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

const WIDTH: i64 = 720;

/// A column chart of `points` (label, value in minor units), with `caption` as its accessible name.
/// Negative values go below the axis.
pub fn columns(caption: &str, points: &[(String, i64)]) -> String {
    let height = 220i64;
    let (top, bottom, left) = (16i64, 36i64, 8i64);
    let plot = height - top - bottom;
    let max = points.iter().map(|(_, v)| *v).max().unwrap_or(0).max(0);
    let min = points.iter().map(|(_, v)| *v).min().unwrap_or(0).min(0);
    let range = (max - min).max(1);
    let zero_y = top + plot * max / range;
    let n = points.len().max(1) as i64;
    let slot = (WIDTH - 2 * left) / n;
    // Columns at most 48 wide: a short range is a few columns, not a wall.
    let bar = (slot * 7 / 10).clamp(2, 48);
    let every = ((n as usize) / 12).max(1);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        esc(caption),
        esc(caption)
    );
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{zero_y}\" x2=\"{}\" y2=\"{zero_y}\" stroke=\"#9aa3b2\" stroke-width=\"1\"/>",
        WIDTH - left
    ));
    for (i, (label, value)) in points.iter().enumerate() {
        let x = left + slot * i as i64 + (slot - bar) / 2;
        let h = (plot * value.abs() / range).max(if *value == 0 { 0 } else { 1 });
        let y = if *value >= 0 { zero_y - h } else { zero_y };
        let fill = if *value >= 0 { "#c8102e" } else { "#5b6475" };
        svg.push_str(&format!(
            "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\" fill=\"{fill}\"><title>{}: {}</title></rect>",
            esc(label),
            esc(&crate::yuan(*value))
        ));
        if i % every == 0 {
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#5b6475\">{}</text>",
                x + bar / 2,
                height - bottom + 16,
                esc(label.get(5..).filter(|_| label.len() == 10).unwrap_or(label))
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A bar per share of a whole (label, value in minor units), each with its percentage.
pub fn shares(caption: &str, parts: &[(String, i64)]) -> String {
    let total: i64 = parts.iter().map(|(_, v)| (*v).max(0)).sum::<i64>().max(1);
    let row = 28i64;
    let height = row * parts.len().max(1) as i64 + 8;
    // Room after the longest bar for its share and amount (`100.0% · ¥1,234,567.89`).
    let (label_w, bar_w) = (150i64, WIDTH - 150 - 190);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        esc(caption),
        esc(caption)
    );
    for (i, (label, value)) in parts.iter().enumerate() {
        let y = 4 + row * i as i64;
        let value = (*value).max(0);
        let w = bar_w * value / total;
        let percent = value * 1_000 / total;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"13\" fill=\"#1d2330\">{}</text>\
             <rect x=\"{label_w}\" y=\"{}\" width=\"{}\" height=\"18\" fill=\"#c8102e\"><title>{}: {}</title></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"13\" fill=\"#1d2330\">{}.{}% · {}</text>",
            y + 14,
            esc(label),
            y + 1,
            w.max(1),
            esc(label),
            esc(&crate::yuan(value)),
            label_w + w + 6,
            y + 14,
            percent / 10,
            percent % 10,
            esc(&crate::yuan(value))
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_their_labels_and_title_every_mark() {
        let svg = columns("Net <sales>", &[("2026-11-27".into(), 12_345), ("<b>".into(), -500)]);
        assert!(svg.contains("aria-label=\"Net &lt;sales&gt;\""));
        assert!(svg.contains("<title>2026-11-27: ¥123.45</title>"));
        assert!(svg.contains("<title>&lt;b&gt;: -¥5.00</title>") && !svg.contains("<b>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        let mix = shares("Mix", &[("Card".into(), 300), ("WeChat Pay".into(), 100)]);
        assert!(mix.contains("75.0% · ¥3.00") && mix.contains("25.0% · ¥1.00"), "{mix}");
    }
}
