//! The `markdown` shorthand: wherever Coda takes canvas content (a new page, a page's content
//! update, a new doc's first page), a tool also takes a plain `markdown` string and builds
//! Coda's nested shape from it — the shape models most often get wrong.

use serde_json::{json, Map, Value};

use super::exec::ToolError;

/// Where a tool's `markdown` goes in Coda's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Into {
    /// `pageContent: {type: canvas, canvasContent}` (`createPage`).
    PageContent,
    /// `contentUpdate: {insertionMode, canvasContent}` (`updatePage`), mode from `insertionMode`.
    ContentUpdate,
    /// `initialPage.pageContent` (`createDoc`).
    InitialPage,
}

/// The tools that take the shorthand.
const TAKES_MARKDOWN: &[(&str, Into)] = &[
    ("coda_create_page", Into::PageContent),
    ("coda_update_page", Into::ContentUpdate),
    ("coda_create_doc", Into::InitialPage),
];

/// The local argument carrying the text.
pub(super) const MARKDOWN: &str = "markdown";

/// The local argument choosing how `coda_update_page`'s markdown goes in.
pub(super) const INSERTION_MODE: &str = "insertionMode";

/// Replaces `markdown` (and `insertionMode`) in `args` by Coda's own shape for `tool`. Refuses
/// the shorthand beside the long form, since the two could disagree.
pub(super) fn expand(tool: &str, args: &mut Map<String, Value>) -> Result<(), ToolError> {
    let Some(&(_, into)) = TAKES_MARKDOWN.iter().find(|(name, _)| *name == tool) else {
        return Ok(());
    };
    let mode = args.remove(INSERTION_MODE);
    let Some(text) = args.remove(MARKDOWN) else {
        return match mode {
            Some(_) => Err(ToolError::InvalidArguments(format!(
                "'{INSERTION_MODE}' goes with '{MARKDOWN}'; without it, give contentUpdate.insertionMode"
            ))),
            None => Ok(()),
        };
    };
    let canvas = json!({"format": "markdown", "content": text});
    let (key, value) = match into {
        Into::PageContent => (
            "pageContent",
            json!({"type": "canvas", "canvasContent": canvas}),
        ),
        Into::ContentUpdate => (
            "contentUpdate",
            json!({"insertionMode": mode.unwrap_or_else(|| json!("append")), "canvasContent": canvas}),
        ),
        Into::InitialPage => {
            let mut page = match args.remove("initialPage") {
                Some(Value::Object(page)) if !page.contains_key("pageContent") => page,
                Some(Value::Object(_)) => return Err(both("initialPage.pageContent")),
                _ => Map::new(),
            };
            page.insert(
                "pageContent".into(),
                json!({"type": "canvas", "canvasContent": canvas}),
            );
            ("initialPage", Value::Object(page))
        }
    };
    if args.contains_key(key) {
        return Err(both(key));
    }
    args.insert(key.into(), value);
    Ok(())
}

fn both(long: &str) -> ToolError {
    ToolError::InvalidArguments(format!("give either '{MARKDOWN}' or '{long}', not both"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn markdown_becomes_codas_shape_for_each_tool() {
        let mut a = args(json!({"docId": "d", "markdown": "# Hi"}));
        expand("coda_create_page", &mut a).unwrap();
        assert_eq!(
            Value::Object(a),
            json!({"docId": "d", "pageContent": {"type": "canvas",
                "canvasContent": {"format": "markdown", "content": "# Hi"}}})
        );
        let mut a = args(json!({"markdown": "x", "insertionMode": "replace"}));
        expand("coda_update_page", &mut a).unwrap();
        assert_eq!(a["contentUpdate"]["insertionMode"], "replace");
        let mut a = args(json!({"markdown": "x"}));
        expand("coda_update_page", &mut a).unwrap();
        assert_eq!(a["contentUpdate"]["insertionMode"], "append");
        let mut a = args(json!({"markdown": "x", "initialPage": {"name": "Start"}}));
        expand("coda_create_doc", &mut a).unwrap();
        assert_eq!(a["initialPage"]["name"], "Start");
        assert_eq!(
            a["initialPage"]["pageContent"]["canvasContent"]["content"],
            "x"
        );
    }

    #[test]
    fn shorthand_beside_the_long_form_is_refused() {
        let mut a = args(json!({"markdown": "x", "pageContent": {"type": "embed", "url": "u"}}));
        assert!(expand("coda_create_page", &mut a)
            .unwrap_err()
            .to_string()
            .contains("either 'markdown' or 'pageContent'"));
        let mut a = args(json!({"markdown": "x", "initialPage": {"pageContent": {}}}));
        assert!(expand("coda_create_doc", &mut a).is_err());
        let mut a = args(json!({"insertionMode": "append"}));
        assert!(expand("coda_update_page", &mut a).is_err());
        let mut a = args(json!({"markdown": "x"}));
        expand("coda_list_rows", &mut a).unwrap();
        assert_eq!(a["markdown"], "x", "other tools are left alone");
    }
}
