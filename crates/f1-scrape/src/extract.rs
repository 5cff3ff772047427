//! Clean text from HTML: the title, text passages, tables and links (scraper crate).

use scraper::{ElementRef, Html, Selector};

/// Tags whose text is page furniture, not content.
const BOILERPLATE: &[&str] = &[
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg",
];

/// Tags that hold one passage of running text.
const PASSAGES: &str = "h1, h2, h3, h4, h5, h6, p, li, blockquote, pre, dt, dd, figcaption";

/// What a page says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub title: Option<String>,
    pub passages: Vec<String>,
    /// Each table as rows of cells.
    pub tables: Vec<Vec<Vec<String>>>,
    /// `href` values of links, as written.
    pub links: Vec<String>,
}

impl Extracted {
    /// Passages separated by blank lines, then each table as `| a | b |` rows.
    pub fn text(&self) -> String {
        let mut blocks = self.passages.clone();
        for table in &self.tables {
            let rows: Vec<String> = table
                .iter()
                .map(|row| format!("| {} |", row.join(" | ")))
                .collect();
            blocks.push(rows.join("\n"));
        }
        blocks.join("\n\n")
    }
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("static selector")
}

fn clean(element: ElementRef) -> String {
    let text: String = element.text().collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A passage's text, leaving out any table nested in it (tables are kept apart).
fn passage_text(element: ElementRef) -> String {
    let text: String = element
        .descendants()
        .filter_map(|node| {
            let in_table = node
                .ancestors()
                .take_while(|a| a.id() != element.id())
                .any(|a| a.value().as_element().is_some_and(|e| e.name() == "table"));
            node.value().as_text().filter(|_| !in_table).map(|t| &t[..])
        })
        .collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ancestors_named<'a>(element: ElementRef<'a>) -> impl Iterator<Item = &'a str> {
    element
        .ancestors()
        .filter_map(|node| node.value().as_element().map(|e| e.name()))
}

/// Extracts a page's content; html5ever repairs broken markup as browsers do.
pub fn extract(html: &str) -> Extracted {
    let document = Html::parse_document(html);
    let title = document
        .select(&selector("title"))
        .chain(document.select(&selector("h1")))
        .map(clean)
        .find(|t| !t.is_empty());

    let passage_tags: Vec<&str> = PASSAGES.split(", ").collect();
    let mut passages: Vec<String> = Vec::new();
    for element in document.select(&selector(PASSAGES)) {
        let mut above = ancestors_named(element);
        // Keep the outermost passage only, and nothing inside tables or boilerplate.
        if above.any(|name| {
            passage_tags.contains(&name) || name == "table" || BOILERPLATE.contains(&name)
        }) {
            continue;
        }
        let text = passage_text(element);
        if !text.is_empty() && !passages.contains(&text) {
            passages.push(text);
        }
    }

    let mut tables = Vec::new();
    for table in document.select(&selector("table")) {
        if ancestors_named(table).any(|name| name == "table" || BOILERPLATE.contains(&name)) {
            continue;
        }
        let rows: Vec<Vec<String>> = table
            .select(&selector("tr"))
            .map(|row| {
                row.select(&selector("th, td"))
                    .map(clean)
                    .collect::<Vec<_>>()
            })
            .filter(|cells: &Vec<String>| cells.iter().any(|c| !c.is_empty()))
            .collect();
        if !rows.is_empty() {
            tables.push(rows);
        }
    }

    let links = document
        .select(&selector("a[href]"))
        .filter_map(|a| a.value().attr("href"))
        .map(str::to_string)
        .collect();
    Extracted {
        title,
        passages,
        tables,
        links,
    }
}

#[cfg(test)]
mod tests {
    use super::extract;

    #[test]
    fn passages_tables_and_links_without_boilerplate() {
        let page = extract(
            "<html><head><title> Monza  results </title><style>p{}</style></head><body>
             <nav><p>Menu</p><a href='/home'>Home</a></nav>
             <h1>Italian Grand Prix</h1>
             <p>The race was won by <b>Charles Leclerc</b>.</p>
             <ul><li><p>First lap chaos</p></li></ul>
             <table><tr><th>Pos</th><th>Driver</th></tr><tr><td>1</td><td>Leclerc</td></tr></table>
             <a href='/next.html'>Next</a><footer><p>Copyright</p></footer><script>var x;</script>
             </body></html>",
        );
        assert_eq!(page.title.as_deref(), Some("Monza results"));
        assert_eq!(
            page.passages,
            [
                "Italian Grand Prix",
                "The race was won by Charles Leclerc.",
                "First lap chaos"
            ]
        );
        assert_eq!(page.tables, [[["Pos", "Driver"], ["1", "Leclerc"]]]);
        assert_eq!(page.links, ["/home", "/next.html"]);
        assert!(page.text().ends_with("| Pos | Driver |\n| 1 | Leclerc |"));
    }

    #[test]
    fn broken_markup_still_yields_text() {
        let page = extract("<p>Unclosed paragraph <b>bold<p>Second <table><tr><td>cell");
        assert_eq!(page.passages, ["Unclosed paragraph bold", "Second"]);
        assert_eq!(page.tables, [[["cell"]]]);
    }
}
