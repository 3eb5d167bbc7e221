//! Man pages: zonesync(8) and zonesync-SUBCOMMAND(8) from the clap
//! definitions (clap_mangen), and zonesync.toml(5) from the configuration
//! reference (`config::reference`), so neither can drift from the code.

use crate::config::reference::{self, Table};
use roff::{bold, italic, roman, Roff};
use std::io;
use std::path::{Path, PathBuf};

/// Writes every page into `dir`; returns their paths.
pub fn write_pages(cli: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cli = cli.disable_help_subcommand(true);
    cli.build();
    let mut written = Vec::new();
    command_pages(&cli, dir, &mut written)?;
    let path = dir.join("zonesync.toml.5");
    std::fs::write(&path, config_page())?;
    written.push(path);
    Ok(written)
}

/// The page of `cmd`, then of each of its subcommands (section 8: the
/// server is an administrator's command, as knotd(8) and nsd(8)).
fn command_pages(cmd: &clap::Command, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("zonesync")
        .source(format!("zonesync {}", env!("CARGO_PKG_VERSION")));
    out.push(man.generate_to(dir)?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        command_pages(sub, dir, out)?;
    }
    Ok(())
}

/// zonesync.toml(5), every table and key of `config::reference`.
pub fn config_page() -> String {
    let mut page = Roff::new();
    page.control(
        "TH",
        [
            "ZONESYNC.TOML",
            "5",
            "",
            concat!("zonesync ", env!("CARGO_PKG_VERSION")),
            "zonesync",
        ],
    )
    .control("SH", ["NAME"])
    .text([roman(
        "zonesync.toml - configuration of the zonesync DNS server",
    )])
    .control("SH", ["SYNOPSIS"])
    .text([
        italic("/etc/zonesync/zonesync.toml"),
        roman(", given to "),
        bold("zonesync serve --config"),
    ])
    .control("SH", ["DESCRIPTION"])
    .text([roman(
        "A TOML file. Unknown keys are errors; relative paths are relative to \
         the directory of the file. ",
    )])
    .text([
        bold("zonesync check-config --config FILE"),
        roman(
            " checks a file, its zone files and keys without starting anything \
             and lists every problem as FILE:LINE: key: problem.",
        ),
    ]);
    for table in reference::TABLES {
        table_section(&mut page, table);
    }
    page.control("SH", ["SEE ALSO"]).text([
        bold("zonesync"),
        roman("(8), "),
        bold("zonesync-serve"),
        roman("(8), "),
        bold("zonesync-check-config"),
        roman("(8)"),
    ]);
    page.render()
}

fn table_section(page: &mut Roff, table: &Table) {
    let title = if table.path.is_empty() {
        "TOP LEVEL".to_owned()
    } else {
        table.syntax.to_owned()
    };
    page.control("SH", [title.as_str()]).text(marked(table.doc));
    if table.path == reference::TEMPLATE_AS.1 {
        page.text([
            bold("[[template]]"),
            roman(" takes the same keys; its name is the template's own."),
        ]);
    }
    for key in table.keys {
        page.control("TP", [])
            .text([
                bold(key.name),
                roman(match key.default {
                    "" => format!(" ({})", key.kind),
                    default => format!(" ({}; default: {default})", key.kind),
                }),
            ])
            .text(marked(key.doc));
    }
}

/// The reference's text, `code` in bold (it is Markdown in docs/config.md).
fn marked(text: &str) -> Vec<roff::Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| if i % 2 == 1 { bold(part) } else { roman(part) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_page_has_every_key() {
        let page = config_page();
        for table in reference::TABLES {
            for key in table.keys {
                assert!(
                    page.contains(&format!("\\fB{}\\fR", key.name)),
                    "{} missing",
                    key.name
                );
            }
        }
    }
}
