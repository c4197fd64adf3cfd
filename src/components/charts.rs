//! Inline SVG bar charts for the manager screens: no chart library, a few elements per bar, so
//! they cost almost nothing in the bundle and scale with the page.

use leptos::prelude::*;

/// One bar: its label, its value, the full-scale value it is drawn against, and the text shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Row label.
    pub label: String,
    /// Value.
    pub value: f64,
    /// Full scale (a bar of `value == max` fills the row).
    pub max: f64,
    /// Text after the bar.
    pub text: String,
}

const ROW: f64 = 22.0;
const LABEL_W: f64 = 150.0;
const BAR_W: f64 = 260.0;
const TEXT_W: f64 = 140.0;

/// A horizontal bar chart; `testid` names it for tests, each bar carries its value.
pub fn bar_chart(title: &str, testid: &'static str, bars: Vec<Bar>) -> impl IntoView {
    let height = (bars.len().max(1) as f64) * ROW + 4.0;
    let width = LABEL_W + BAR_W + TEXT_W;
    let rows = bars
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let y = i as f64 * ROW + 2.0;
            let share = if b.max > 0.0 {
                (b.value / b.max).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let label = b.label.clone();
            view! {
                <g data-testid="bar" data-label=label data-value=b.value.to_string()>
                    <text x=0 y=y + 15.0 class="chart-label">{b.label}</text>
                    <rect x=LABEL_W y=y + 3.0 width=BAR_W height=ROW - 8.0 class="chart-track" />
                    <rect x=LABEL_W y=y + 3.0 width=BAR_W * share height=ROW - 8.0 class="chart-bar" />
                    <text x=LABEL_W + BAR_W + 8.0 y=y + 15.0 class="chart-text">{b.text}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <figure class="chart" data-testid=testid>
            <figcaption>{title.to_string()}</figcaption>
            <svg viewBox=format!("0 0 {width} {height}") width=width height=height role="group" aria-label=title.to_string()>
                {rows}
            </svg>
        </figure>
    }
}

/// `0.873` as `87%`, or a dash when unknown.
pub fn percent(v: Option<f64>) -> String {
    v.map(|v| format!("{:.0}%", v * 100.0))
        .unwrap_or_else(|| "–".into())
}
