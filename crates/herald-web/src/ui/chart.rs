//! Charts drawn on the server as SVG: the same markup serves the first
//! page load, scripts-off readers and the live updates, and no charting
//! library is shipped. Only numbers and fixed words go into the markup;
//! colours come from the theme's CSS classes.

use std::fmt::Write as _;

use herald_store::TimelinePoint;
use time::macros::format_description;

use super::viewer::Viewer;
use super::views;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
/// Room for the axis labels.
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;
const RIGHT: f64 = 12.0;

/// The three series, by CSS class and name.
const SERIES: [(&str, &str); 3] = [
    ("line-delivered", "delivered"),
    ("line-read", "read"),
    ("line-acknowledged", "acknowledged"),
];

/// Cumulative deliveries, reads and acknowledgements over time, against
/// the audience's size. Acknowledgements are drawn and told only when the
/// announcement asks for them: a flat line of nothing asked is noise.
pub fn progress(points: &[TimelinePoint], total: i64, asks_acknowledgement: bool) -> String {
    let totals = cumulative(points);
    let last = totals.last().copied().unwrap_or([0; 3]);
    let top = total.max(last[0]).max(1) as f64;
    let series = if asks_acknowledgement { 3 } else { 2 };
    let (title, summary) = if asks_acknowledgement {
        (
            "Deliveries, reads and acknowledgements over time",
            format!(
                "{} delivered, {} read, {} acknowledged, of {} recipients",
                last[0], last[1], last[2], total
            ),
        )
    } else {
        (
            "Deliveries and reads over time",
            format!(
                "{} delivered, {} read, of {} recipients",
                last[0], last[1], total
            ),
        )
    };
    let mut svg = open("progress-chart", title, &summary);
    axes(&mut svg, top);
    if let (Some(first), Some(end)) = (points.first(), points.last()) {
        let span = (end.at - first.at).as_seconds_f64().max(1.0);
        let x = |p: &TimelinePoint| LEFT + (p.at - first.at).as_seconds_f64() / span * plot_width();
        for (index, (class, _)) in SERIES.iter().enumerate().take(series) {
            let mut path = format!("M{LEFT:.1},{:.1}", y(0.0, top));
            for (point, sums) in points.iter().zip(&totals) {
                let _ = write!(path, " L{:.1},{:.1}", x(point), y(sums[index] as f64, top));
            }
            let _ = write!(svg, r#"<path class="{class}" d="{path}"/>"#);
        }
        time_labels(&mut svg, first, end);
    }
    svg.push_str("</svg>");
    svg
}

/// Deliveries per day as bars.
pub fn per_day(days: &[(time::Date, i64)]) -> String {
    let top = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let sum: i64 = days.iter().map(|(_, n)| n).sum();
    let summary = format!(
        "{} deliveries over the last {} days",
        views::number(sum),
        days.len()
    );
    let mut svg = open("days-chart", "Deliveries per day", &summary);
    axes(&mut svg, top);
    let slot = plot_width() / days.len().max(1) as f64;
    for (index, (day, count)) in days.iter().enumerate() {
        let height = *count as f64 / top * plot_height();
        let _ = write!(
            svg,
            r#"<rect class="day-bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{height:.1}"><title>{}: {}</title></rect>"#,
            LEFT + index as f64 * slot + slot * 0.15,
            y(*count as f64, top),
            slot * 0.7,
            day_label(*day),
            views::number(*count),
        );
    }
    if let (Some((first, _)), Some((last, _))) = (days.first(), days.last()) {
        label(&mut svg, LEFT, HEIGHT - 8.0, "start", &day_label(*first));
        label(
            &mut svg,
            WIDTH - RIGHT,
            HEIGHT - 8.0,
            "end",
            &day_label(*last),
        );
    }
    svg.push_str("</svg>");
    svg
}

fn open(id: &str, title: &str, summary: &str) -> String {
    format!(
        r#"<svg class="chart" id="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title {id}-desc" preserveAspectRatio="xMidYMid meet"><title id="{id}-title">{title}</title><desc id="{id}-desc">{summary}</desc>"#
    )
}

/// The frame, with the top and zero of the count axis labelled.
fn axes(svg: &mut String, top: f64) {
    let _ = write!(
        svg,
        r#"<path class="axis" d="M{LEFT},{TOP} V{base} H{right}"/><path class="grid" d="M{LEFT},{TOP} H{right} M{LEFT},{middle} H{right}"/>"#,
        base = HEIGHT - BOTTOM,
        right = WIDTH - RIGHT,
        middle = y(top / 2.0, top),
    );
    label(svg, LEFT - 6.0, TOP + 4.0, "end", &count_label(top));
    label(
        svg,
        LEFT - 6.0,
        y(top / 2.0, top) + 4.0,
        "end",
        &count_label(top / 2.0),
    );
    label(svg, LEFT - 6.0, HEIGHT - BOTTOM + 4.0, "end", "0");
}

/// The first and last times, in the viewer's zone, named once. The live
/// poller draws for every watcher at once (in UTC), so each time carries
/// its instant and the zone label is marked: `app.js` rewrites both in
/// the reader's zone.
fn time_labels(svg: &mut String, first: &TimelinePoint, last: &TimelinePoint) {
    let viewer = Viewer::current();
    let y = HEIGHT - 8.0;
    let _ = write!(
        svg,
        r#"<text x="{LEFT:.1}" y="{y:.1}" text-anchor="start" data-at="{}">{}</text>"#,
        views::iso(first.at),
        viewer.clock(first.at),
    );
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{y:.1}" text-anchor="end"><tspan data-at="{}">{}</tspan> <tspan data-zone-label="">{}</tspan></text>"#,
        WIDTH - RIGHT,
        views::iso(last.at),
        viewer.clock(last.at),
        viewer.zone_at(last.at),
    );
}

fn label(svg: &mut String, x: f64, y: f64, anchor: &str, text: &str) {
    let _ = write!(
        svg,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}">{text}</text>"#
    );
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

fn y(value: f64, top: f64) -> f64 {
    HEIGHT - BOTTOM - value / top * plot_height()
}

/// Running totals of the three series.
fn cumulative(points: &[TimelinePoint]) -> Vec<[i64; 3]> {
    let mut sums = [0i64; 3];
    points
        .iter()
        .map(|p| {
            sums[0] += p.delivered;
            sums[1] += p.read;
            sums[2] += p.acknowledged;
            sums
        })
        .collect()
}

fn count_label(value: f64) -> String {
    match value {
        v if v >= 1_000_000.0 => format!("{:.1}M", v / 1_000_000.0),
        v if v >= 10_000.0 => format!("{:.0}k", v / 1_000.0),
        v => format!("{v:.0}"),
    }
}

fn day_label(day: time::Date) -> String {
    day.format(format_description!("[day] [month repr:short]"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn point(second: i64, delivered: i64, read: i64) -> TimelinePoint {
        TimelinePoint {
            at: datetime!(2026-11-28 10:00 UTC) + time::Duration::seconds(second),
            delivered,
            read,
            acknowledged: 0,
        }
    }

    #[test]
    fn the_lines_climb_to_the_running_totals() {
        let svg = progress(&[point(0, 50, 0), point(10, 50, 20)], 100, true);
        assert!(svg.contains("100 delivered, 20 read, 0 acknowledged, of 100 recipients"));
        assert!(svg.contains("line-acknowledged"));
        // 100 of 100 reaches the top of the plot.
        assert!(svg.contains(&format!("L{:.1},{TOP:.1}", WIDTH - RIGHT)));
        assert!(svg.contains(r#">10:00:10</tspan> <tspan data-zone-label="">UTC<"#));
    }

    #[test]
    fn no_points_draws_an_empty_frame() {
        let svg = progress(&[], 0, true);
        assert!(!svg.contains("line-delivered"));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn acknowledgements_are_left_out_when_none_were_asked() {
        let svg = progress(&[point(0, 50, 0), point(10, 50, 20)], 100, false);
        assert!(svg.contains("100 delivered, 20 read, of 100 recipients"));
        assert!(!svg.contains("acknowledg"), "{svg}");
        assert!(svg.contains("line-read"));
    }

    #[test]
    fn bars_are_as_tall_as_their_share_of_the_busiest_day() {
        let day = time::macros::date!(2026 - 11 - 27);
        let svg = per_day(&[(day, 10), (day.next_day().unwrap(), 5)]);
        assert!(svg.contains("27 Nov: 10"));
        assert!(svg.contains("15 deliveries over the last 2 days"));
    }
}
