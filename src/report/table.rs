//! A plain-text table: columns padded to their widest cell, optional ANSI colour per cell
//! (applied after padding, so alignment never depends on escape codes).

/// An ANSI colour for a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Errors.
    Red,
    /// Warnings.
    Yellow,
    /// Informational.
    Cyan,
}

impl Colour {
    fn code(self) -> &'static str {
        match self {
            Colour::Red => "\x1b[31m",
            Colour::Yellow => "\x1b[33m",
            Colour::Cyan => "\x1b[36m",
        }
    }
}

/// Rows of cells under a header.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<(String, Option<Colour>)>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of uncoloured cells.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| (c, None)).collect());
    }

    /// Adds a row whose first cell is coloured.
    pub fn coloured_row(&mut self, colour: Colour, cells: Vec<String>) {
        let mut row: Vec<_> = cells.into_iter().map(|c| (c, None)).collect();
        if let Some(first) = row.first_mut() {
            first.1 = Some(colour);
        }
        self.rows.push(row);
    }

    /// Renders with `indent` spaces before each line; colours only when `colour` is true.
    pub fn render(&self, indent: usize, colour: bool) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (index, (cell, _)) in row.iter().enumerate().take(columns) {
                widths[index] = widths[index].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<_> = self.header.iter().map(|h| (h.clone(), None)).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = " ".repeat(indent);
            for (index, (cell, cell_colour)) in row.iter().enumerate().take(columns) {
                let last = index + 1 == columns;
                let padding = if last {
                    0
                } else {
                    widths[index] - cell.chars().count() + 2
                };
                match (cell_colour, colour) {
                    (Some(c), true) => line.push_str(&format!("{}{cell}\x1b[0m", c.code())),
                    _ => line.push_str(cell),
                }
                line.push_str(&" ".repeat(padding));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_and_colours_after_padding() {
        let mut table = Table::new(&["A", "BEE"]);
        table.coloured_row(Colour::Red, vec!["error".into(), "x".into()]);
        assert_eq!(table.render(1, false), " A      BEE\n error  x\n");
        assert_eq!(
            table.render(0, true).lines().nth(1),
            Some("\x1b[31merror\x1b[0m  x")
        );
    }
}
