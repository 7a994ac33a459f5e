//! Paths below Coda's API root, kept as segments and never joined as strings.
//!
//! Every ID or name a caller gives becomes exactly one segment, percent-encoded when the URL
//! is built, so a `/`, `?` or `#` in a page name stays inside its segment. Segments that a URL
//! parser would resolve away — `.`, `..`, and the empty segment — are refused when the path
//! is made: with them, "delete page `..`" of doc D would reach `DELETE /docs/D/`, the shape of
//! "delete doc". Constant paths (`"/whoami"`, catalogue templates) are written as literals.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Characters escaped in a segment when it is shown (the URL itself is built by the `url`
/// crate's own segment encoder).
const SHOWN: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'^')
    .add(b'|')
    .add(b'\\');

/// The `limit` maxima of Coda's spec (1.4.17, and the newer page-content listing), by the
/// listing's path (`*` is any one segment). Listings not here declare none.
const PAGE_MAXIMA: &[(&[&str], usize)] = &[
    (&["docs", "*", "tables", "*", "columns"], 100), // listColumns
    (&["docs", "*", "pages", "*", "content"], 500),  // listPageContent
    (&["analytics", "docs"], 5000),                  // listDocAnalytics
    (&["analytics", "docs", "*", "pages"], 5000),    // listPageAnalytics
    (&["analytics", "packs"], 5000),                 // listPackAnalytics
    (&["analytics", "packs", "*", "formulas"], 5000), // listPackFormulaAnalytics
];

/// A path below the API root, as its segments (not encoded).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CodaPath(Vec<String>);

/// A value that cannot be one segment of a Coda path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadSegment {
    /// Empty: it would merge with its neighbour.
    #[error("an ID or name cannot be empty")]
    Empty,
    /// `.` or `..`: a URL parser resolves it, so the request would reach another resource.
    #[error("'{0}' is not an ID or a name (it would address a different resource)")]
    Dots(String),
}

/// Checks that `value` can stand as one path segment.
pub fn check_segment(value: &str) -> Result<(), BadSegment> {
    match value {
        "" => Err(BadSegment::Empty),
        "." | ".." => Err(BadSegment::Dots(value.to_owned())),
        _ => Ok(()),
    }
}

impl CodaPath {
    /// A path of `segments`, each checked.
    pub fn new<I, S>(segments: I) -> Result<Self, BadSegment>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        segments
            .into_iter()
            .try_fold(CodaPath::default(), |path, s| path.join(s))
    }

    /// This path with one more segment.
    pub fn join(mut self, segment: impl Into<String>) -> Result<Self, BadSegment> {
        let segment = segment.into();
        check_segment(&segment)?;
        self.0.push(segment);
        Ok(self)
    }

    /// This path with one more constant segment (a literal, e.g. `"content"`).
    pub fn child(&self, segment: &'static str) -> Self {
        let mut path = self.clone();
        path.0.push(segment.to_owned());
        path
    }

    /// The segments, not encoded.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// The path without a last segment equal to `last` (e.g. a table's path from its rows').
    pub fn strip_last(&self, last: &str) -> Option<Self> {
        let (tail, head) = self.0.split_last()?;
        (tail == last).then(|| CodaPath(head.to_vec()))
    }

    /// The largest page (`limit`) Coda's spec allows for the listing at this path, where it
    /// sets one: asking for more is a request the spec refuses, even if Coda clamps it.
    pub fn page_maximum(&self) -> Option<usize> {
        PAGE_MAXIMA.iter().find_map(|(shape, max)| {
            (shape.len() == self.0.len()
                && shape
                    .iter()
                    .zip(&self.0)
                    .all(|(want, got)| *want == "*" || want == got))
            .then_some(*max)
        })
    }

    /// `url` (the API root) with this path appended, segment by segment.
    pub fn under(&self, root: &url::Url) -> url::Url {
        let mut url = root.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            segments.extend(&self.0);
        }
        url
    }
}

/// Constant paths, from literals only (never from a caller's value): `"/docs"`.
impl From<&'static str> for CodaPath {
    fn from(literal: &'static str) -> Self {
        let segments: Vec<String> = literal
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        debug_assert!(
            segments.iter().all(|s| check_segment(s).is_ok()),
            "{literal}"
        );
        CodaPath(segments)
    }
}

impl fmt::Display for CodaPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for s in &self.0 {
            write!(f, "/{}", utf8_percent_encode(s, SHOWN))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_maxima_follow_the_spec() {
        let columns = CodaPath::new(["docs", "D1", "tables", "grid-1", "columns"]).unwrap();
        assert_eq!(columns.page_maximum(), Some(100));
        let rows = CodaPath::new(["docs", "D1", "tables", "grid-1", "rows"]).unwrap();
        assert_eq!(rows.page_maximum(), None, "listRows declares no maximum");
        let column = columns.clone().join("c-1").unwrap();
        assert_eq!(column.page_maximum(), None, "getColumn is not a listing");
    }

    #[test]
    fn dot_and_empty_segments_are_refused() {
        for bad in ["", ".", ".."] {
            assert!(
                CodaPath::new(["docs", "D1", "pages", bad]).is_err(),
                "{bad:?}"
            );
        }
        for fine in ["...", ".x", "a.b", "%2E%2E", "a/b", "?q", "#h"] {
            assert!(CodaPath::new(["docs", fine]).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn each_value_is_one_segment_of_the_url() {
        let root = url::Url::parse("https://coda.io/apis/v1").unwrap();
        let path = CodaPath::new(["docs", "D1", "pages", "Q3/Plan ?#%2E%2E"]).unwrap();
        let url = path.under(&root);
        assert_eq!(
            url.as_str(),
            "https://coda.io/apis/v1/docs/D1/pages/Q3%2FPlan%20%3F%23%252E%252E"
        );
        let segments: Vec<_> = url.path_segments().unwrap().collect();
        assert_eq!(segments.len(), 6);
        assert_eq!(
            path.to_string(),
            "/docs/D1/pages/Q3%2FPlan%20%3F%23%252E%252E"
        );
        // A root with a trailing slash gets no empty segment.
        let root = url::Url::parse("http://127.0.0.1:9/apis/v1/").unwrap();
        assert_eq!(
            CodaPath::from("/whoami").under(&root).as_str(),
            "http://127.0.0.1:9/apis/v1/whoami"
        );
    }

    #[test]
    fn a_table_path_from_its_rows_path() {
        let rows = CodaPath::new(["docs", "D", "tables", "T", "rows"]).unwrap();
        assert_eq!(
            rows.strip_last("rows").unwrap(),
            CodaPath::new(["docs", "D", "tables", "T"]).unwrap()
        );
        assert!(rows.strip_last("columns").is_none());
    }
}
