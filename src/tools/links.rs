//! Coda browser URLs → API IDs, locally. Coda's links look like
//! `https://coda.io/d/Plan_dAbCDeFGH/Launch_suXyz#Tasks_tpqRst-U/_rui-tuVwxYz`: the doc ID
//! follows `_d`, a page's follows `_su` (page `canvas-Xyz`), a table's follows `_t`
//! (table `grid-pqRst-U`) and a row's follows `_ru` (row `i-tuVwxYz`).

use serde::Serialize;

/// The IDs found in a Coda URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodaLink {
    /// `AbCDeFGH`.
    pub doc_id: String,
    /// `canvas-…`, when the link names a page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_id: Option<String>,
    /// `grid-…`, when the link names a table or view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_id: Option<String>,
    /// `i-…`, when the link names a row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_id: Option<String>,
}

/// Whether `s` looks like a URL rather than an ID.
pub fn is_url(s: &str) -> bool {
    let s = s.trim_start();
    s.starts_with("https://") || s.starts_with("http://") || s.starts_with("coda.io/")
}

/// The part of `segment` after the last `marker`, if any.
fn after<'a>(segment: &'a str, marker: &str) -> Option<&'a str> {
    segment
        .rfind(marker)
        .map(|i| &segment[i + marker.len()..])
        .filter(|s| !s.is_empty())
}

fn id_chars(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Whether `host` (as written in a URL, maybe with a port) is Coda's own: `coda.io` or one
/// of its subdomains. Other hosts (a published doc's custom domain, or anything else) are
/// left to Coda's `resolveBrowserLink`.
fn is_coda_host(host: &str) -> bool {
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    host == "coda.io" || host.ends_with(".coda.io")
}

/// Parses a Coda browser link on Coda's own host. Returns `None` when it holds no doc ID, or
/// is on another host (which only Coda can resolve).
pub fn parse(url: &str) -> Option<CodaLink> {
    let url = url.trim();
    let without_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let host = without_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if !is_coda_host(host) {
        return None;
    }
    let (path, fragment) = without_scheme
        .split_once('#')
        .unwrap_or((without_scheme, ""));
    let path = path.split('?').next().unwrap_or("");
    let mut segments = path.split('/').skip(1).filter(|s| !s.is_empty());
    // Expect `d/<slug>_d<docId>`.
    if segments.next()? != "d" {
        return None;
    }
    let doc_segment = segments.next()?;
    let doc_id = id_chars(after(doc_segment, "_d")?).to_owned();
    if doc_id.is_empty() {
        return None;
    }
    let mut link = CodaLink {
        doc_id,
        ..CodaLink::default()
    };
    for seg in segments {
        if let Some(page) = after(seg, "_su") {
            link.page_id = Some(format!("canvas-{}", id_chars(page)));
        }
    }
    let mut parts = fragment.split('/');
    if let Some(table) = parts.next().and_then(|t| after(t, "_t")) {
        let id = id_chars(table);
        // `_tu` in older links is `_t` + an ID starting with `u`; both map to `grid-…`.
        link.table_id = Some(if id.starts_with("grid-") {
            id.to_owned()
        } else {
            format!("grid-{id}")
        });
    }
    for part in parts {
        if let Some(row) = part.strip_prefix("_ru").or_else(|| part.strip_prefix("_r")) {
            let id = id_chars(row);
            if !id.is_empty() {
                link.row_id = Some(if id.starts_with("i-") {
                    id.to_owned()
                } else {
                    format!("i-{id}")
                });
            }
        }
    }
    Some(link)
}

/// The kind of ID an argument holds, so a Coda URL given in its place can be turned into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A doc ID (`AbCDeFGH`).
    Doc,
    /// A page ID (`canvas-…`).
    Page,
    /// A table or view ID (`grid-…`).
    Table,
    /// A row ID (`i-…`).
    Row,
    /// A folder ID (`fl-…`), found in links as `?folderId=`.
    Folder,
    /// A workspace ID (`ws-…`), found in links as `?workspaceId=`.
    Workspace,
}

impl IdKind {
    /// The kind of ID a tool argument (by Coda's parameter name) holds, if it holds one.
    pub fn of_param(name: &str) -> Option<IdKind> {
        Some(match name {
            "docId" | "sourceDoc" | "docIds" => IdKind::Doc,
            "pageIdOrName" | "parentPageId" => IdKind::Page,
            "tableIdOrName" => IdKind::Table,
            "rowIdOrName" | "rowIds" => IdKind::Row,
            "folderId" => IdKind::Folder,
            "workspaceId" => IdKind::Workspace,
            _ => return None,
        })
    }

    /// A word for messages.
    pub fn noun(self) -> &'static str {
        match self {
            IdKind::Doc => "doc",
            IdKind::Page => "page",
            IdKind::Table => "table",
            IdKind::Row => "row",
            IdKind::Folder => "folder",
            IdKind::Workspace => "workspace",
        }
    }

    /// This kind's ID among the IDs of a link.
    pub fn pick(self, link: &CodaLink) -> Option<String> {
        match self {
            IdKind::Doc => Some(link.doc_id.clone()).filter(|d| !d.is_empty()),
            IdKind::Page => link.page_id.clone(),
            IdKind::Table => link.table_id.clone(),
            IdKind::Row => link.row_id.clone(),
            IdKind::Folder | IdKind::Workspace => None,
        }
    }
}

/// The ID of `kind` in a Coda URL, found without asking Coda: doc, page, table and row IDs
/// from the link's path and fragment, folder and workspace IDs from its query
/// (`https://coda.io/docs?folderId=fl-…`).
pub fn local_id(kind: IdKind, url: &str) -> Option<String> {
    match kind {
        IdKind::Folder | IdKind::Workspace => {
            let name = if kind == IdKind::Folder {
                "folderId"
            } else {
                "workspaceId"
            };
            let with_scheme = if url.contains("://") {
                url.trim().to_owned()
            } else {
                format!("https://{}", url.trim())
            };
            let parsed = url::Url::parse(&with_scheme).ok()?;
            if !parsed.host_str().is_some_and(is_coda_host) {
                return None;
            }
            let found = parsed
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned());
            found.filter(|v| !v.is_empty())
        }
        _ => parse(url).and_then(|link| kind.pick(&link)),
    }
}

/// The IDs named by an API `href` (`…/docs/{docId}[/pages/{id}|/tables/{id}[/rows/{id}]]`),
/// as `resolveBrowserLink` answers.
pub fn from_href(href: &str) -> Option<CodaLink> {
    let parts: Vec<&str> = href
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split('/')
        .collect();
    let after = |marker: &str| {
        parts
            .iter()
            .position(|p| *p == marker)
            .and_then(|i| parts.get(i + 1))
            .filter(|id| !id.is_empty())
            .map(|id| {
                percent_encoding::percent_decode_str(id)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    };
    Some(CodaLink {
        doc_id: after("docs")?,
        page_id: after("pages"),
        table_id: after("tables"),
        row_id: after("rows"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_codas_own_hosts_are_read_locally() {
        assert!(parse("https://coda.io/d/Plan_dAbCDeFGH01").is_some());
        assert!(parse("coda.io/d/Plan_dAbCDeFGH01").is_some());
        assert!(parse("https://CODA.IO:443/d/Plan_dAbCDeFGH01").is_some());
        for foreign in [
            "https://example.com/d/_dAbCDeFGH01",
            "https://coda.io.evil.example/d/_dAbCDeFGH01",
            "https://evilcoda.io/d/_dAbCDeFGH01",
            "https://coda.io@evil.example/d/_dAbCDeFGH01",
        ] {
            assert!(
                parse(foreign).is_none(),
                "{foreign} was read as a Coda link"
            );
        }
    }

    #[test]
    fn parses_coda_links_at_every_depth() {
        let doc = parse("https://coda.io/d/_dAbCDeFGH").unwrap();
        assert_eq!(doc.doc_id, "AbCDeFGH");
        assert_eq!(doc.page_id, None);
        let page =
            parse("https://coda.io/d/Launch-Plan_dAbCDeFGH/Launch-Status_sumnO?x=1").unwrap();
        assert_eq!(
            (page.doc_id.as_str(), page.page_id.as_deref()),
            ("AbCDeFGH", Some("canvas-mnO"))
        );
        let table = parse("https://coda.io/d/_dAbCDeFGH/#Teams-and-Tasks_tpqRst-U").unwrap();
        assert_eq!(table.table_id.as_deref(), Some("grid-pqRst-U"));
        let row =
            parse("https://coda.io/d/_dAbCDeFGH#Teams-and-Tasks_tpqRst-U/_rui-tuVwxYz").unwrap();
        assert_eq!(row.table_id.as_deref(), Some("grid-pqRst-U"));
        assert_eq!(row.row_id.as_deref(), Some("i-tuVwxYz"));
        assert!(parse("https://example.com/d/nothing").is_none());
        assert!(parse("https://coda.io/docs").is_none());
        assert!(parse("not a url").is_none());
        assert!(is_url("https://coda.io/d/_dX") && !is_url("AbCDeFGH"));
    }

    #[test]
    fn finds_each_kind_of_id_locally_and_in_hrefs() {
        let row = "https://coda.io/d/_dAbCDeFGH#Tasks_tpqRst-U/_rui-tuVwxYz";
        assert_eq!(local_id(IdKind::Doc, row).as_deref(), Some("AbCDeFGH"));
        assert_eq!(local_id(IdKind::Row, row).as_deref(), Some("i-tuVwxYz"));
        assert_eq!(local_id(IdKind::Page, row), None);
        let folder = "https://coda.io/docs?folderId=fl-Work0001";
        assert_eq!(
            local_id(IdKind::Folder, folder).as_deref(),
            Some("fl-Work0001")
        );
        assert_eq!(local_id(IdKind::Workspace, folder), None);
        assert_eq!(
            local_id(IdKind::Workspace, "coda.io/docs?workspaceId=ws-Demo01").as_deref(),
            Some("ws-Demo01")
        );
        assert_eq!(IdKind::of_param("parentPageId"), Some(IdKind::Page));
        assert_eq!(IdKind::of_param("limit"), None);
        let href = from_href("https://coda.io/apis/v1/docs/AbC/pages/canvas-X%20Y").unwrap();
        assert_eq!(
            (href.doc_id.as_str(), href.page_id.as_deref()),
            ("AbC", Some("canvas-X Y"))
        );
        assert!(from_href("https://coda.io/apis/v1/whoami").is_none());
    }
}
