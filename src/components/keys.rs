//! Who a key press belongs to, shared by the screens with page-wide shortcuts (labeling,
//! review): a key typed in a text field is the field's, and buttons never keep the focus after
//! a click, so a later Enter or Space never clicks them again on top of the shortcut.

use wasm_bindgen::JsCast;

/// Whether a key press belongs to the element it was typed in: text fields only. A checkbox
/// or a button clicked a moment ago does not take the shortcuts away.
pub fn typing_in(e: &web_sys::KeyboardEvent) -> bool {
    let Some(el) = e
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
    else {
        return false;
    };
    if el.is_content_editable() {
        return true;
    }
    match el.tag_name().as_str() {
        "TEXTAREA" | "SELECT" => true,
        "INPUT" => !matches!(
            el.get_attribute("type").unwrap_or_default().as_str(),
            "checkbox" | "radio" | "button" | "submit" | "reset" | "range" | "color" | "file"
        ),
        _ => false,
    }
}

/// A page's `mousedown` handler: a press on a button does not move the focus to it.
pub fn keep_focus(e: web_sys::MouseEvent) {
    let on_button = e
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|el| el.closest("button").ok().flatten())
        .is_some();
    if on_button {
        e.prevent_default();
    }
}
