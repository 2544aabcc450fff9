//! Interactive review of proposals on a terminal: one proposal at a time, grouped by purpose.
//!
//! Per proposal the user can accept, reject, widen or narrow (step through the alternatives the
//! learner offers, ordered narrow → wide), edit (type a rule: it must parse and cover the
//! evidence, else we say what it misses), skip, or quit; `?` prints help. Sensitive proposals
//! need a typed confirmation. Input is line based (type the letter, then Enter), so it works the
//! same in every terminal, over ssh, and through a pseudo-terminal in tests.
//!
//! The review works on [`Item`]s, a view of the learner's proposals that `learn` builds; it knows
//! nothing about how rules are checked ([`EditChecker`]) or written.

use std::io::{self, BufRead, Write};

/// How risky a grant is, as the learner judged it. Shown as a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    fn paint(self) -> &'static str {
        match self {
            Risk::Low => "\x1b[32m",
            Risk::Medium => "\x1b[33m",
            Risk::High => "\x1b[31m",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

/// One grant choice of a proposal: the rule text and why / how much wider it is.
#[derive(Debug, Clone)]
pub struct Choice {
    pub rule: String,
    pub note: String,
    /// This choice would open a sensitive location (a wider rule over one): needs a typed confirmation.
    pub sensitive: bool,
}

/// One proposal as the review shows it.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub purpose: String,
    pub class: String,
    /// The grant choices, narrow → wide; `proposed` is the learner's pick.
    pub choices: Vec<Choice>,
    pub proposed: usize,
    pub reason: String,
    pub evidence: Vec<String>,
    pub risk: Risk,
    pub safe: bool,
    /// Needs a typed confirmation to accept.
    pub sensitive: bool,
}

/// What the user decided for one proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Accept choice number `n` of the item.
    Accepted(usize),
    /// Accept this rule text typed by the user (checked by the [`EditChecker`]).
    Edited(String),
    Rejected,
    /// Not decided (skipped, or not reached before quitting): nothing is written for it.
    Skipped,
}

/// Checks a rule the user typed for an item: it must parse and cover the item's evidence.
pub trait EditChecker {
    /// `Err(explanation)` says what is wrong or which evidence the rule does not cover.
    fn check(&self, item: usize, rule: &str) -> Result<(), String>;
}

/// The result of a review session.
#[derive(Debug)]
pub struct Outcome {
    pub decisions: Vec<Decision>,
    /// The user quit (the remaining items stay [`Decision::Skipped`]).
    pub quit: bool,
    /// Input ended (Ctrl-D): the caller must not write anything.
    pub aborted: bool,
}

/// The terminal conversation: input lines, output text, colour or not.
pub struct Terminal<'a> {
    pub input: &'a mut dyn BufRead,
    pub output: &'a mut dyn Write,
    pub color: bool,
}

const HELP: &str = "\
  a  accept the rule shown          r  reject (nothing is written for it)
  w  widen: the next wider choice   n  narrow: the next narrower choice
  e  edit: type your own rule (it must parse and cover the evidence)
  s  skip for now                   q  quit reviewing (the rest is skipped)
  ?  this help";

impl Terminal<'_> {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Print `prompt`, read one line. `None` at end of input.
    pub fn ask(&mut self, prompt: &str) -> io::Result<Option<String>> {
        write!(self.output, "{prompt}")?;
        self.output.flush()?;
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            writeln!(self.output)?;
            return Ok(None);
        }
        Ok(Some(line.trim_end_matches(['\n', '\r']).to_string()))
    }

    /// Review `items` in order (the caller sorts them by purpose); decisions in the same order.
    pub fn review(&mut self, items: &[Item], checker: &dyn EditChecker) -> io::Result<Outcome> {
        let mut decisions = vec![Decision::Skipped; items.len()];
        let total = items.len();
        let mut group: Option<&str> = None;
        for (index, item) in items.iter().enumerate() {
            if group != Some(item.purpose.as_str()) {
                group = Some(item.purpose.as_str());
                let count = items.iter().filter(|i| i.purpose == item.purpose).count();
                let title = format!("== {} ({count} proposal{}) ==", item.purpose, if count == 1 { "" } else { "s" });
                writeln!(self.output, "\n{}", self.paint("\x1b[1m", &title))?;
            }
            let mut choice = item.proposed.min(item.choices.len().saturating_sub(1));
            self.show(index, total, item, choice)?;
            loop {
                let Some(answer) = self.ask("[a]ccept [r]eject [w]iden [n]arrow [e]dit [s]kip [q]uit [?] > ")? else {
                    return Ok(Outcome { decisions, quit: true, aborted: true });
                };
                match answer.trim() {
                    "a" | "accept" => {
                        let sensitive = item.sensitive || item.choices.get(choice).is_some_and(|c| c.sensitive);
                        if sensitive && !self.confirm_sensitive(item)? {
                            continue;
                        }
                        decisions[index] = Decision::Accepted(choice);
                        break;
                    }
                    "r" | "reject" => {
                        decisions[index] = Decision::Rejected;
                        break;
                    }
                    "s" | "skip" | "" => {
                        decisions[index] = Decision::Skipped;
                        break;
                    }
                    "q" | "quit" => return Ok(Outcome { decisions, quit: true, aborted: false }),
                    "w" | "widen" => {
                        if choice + 1 < item.choices.len() {
                            choice += 1;
                            self.show_choice(item, choice)?;
                        } else {
                            writeln!(self.output, "  (this is the widest choice offered)")?;
                        }
                    }
                    "n" | "narrow" => {
                        if choice > 0 {
                            choice -= 1;
                            self.show_choice(item, choice)?;
                        } else {
                            writeln!(self.output, "  (this is the narrowest choice offered)")?;
                        }
                    }
                    "e" | "edit" => {
                        let Some(rule) = self.ask("  rule (empty to cancel)> ")? else {
                            return Ok(Outcome { decisions, quit: true, aborted: true });
                        };
                        let rule = rule.trim();
                        if rule.is_empty() {
                            continue;
                        }
                        match checker.check(index, rule) {
                            Ok(()) => {
                                if item.sensitive && !self.confirm_sensitive(item)? {
                                    continue;
                                }
                                writeln!(self.output, "  {}", self.paint("\x1b[32m", "ok: the rule covers the evidence"))?;
                                decisions[index] = Decision::Edited(rule.to_string());
                                break;
                            }
                            Err(why) => {
                                for line in why.lines() {
                                    writeln!(self.output, "  {}", self.paint("\x1b[31m", line))?;
                                }
                            }
                        }
                    }
                    "?" | "h" | "help" => writeln!(self.output, "{HELP}")?,
                    other => writeln!(self.output, "  unknown answer {other:?}; `?` for help")?,
                }
            }
        }
        Ok(Outcome { decisions, quit: false, aborted: false })
    }

    fn show(&mut self, index: usize, total: usize, item: &Item, choice: usize) -> io::Result<()> {
        let risk = self.paint(item.risk.paint(), &format!("risk {}", item.risk.label()));
        let safe = if item.safe { "safe" } else { "needs review" };
        let sensitive = if item.sensitive { self.paint("\x1b[1;31m", "  SENSITIVE") } else { String::new() };
        writeln!(self.output, "\n[{}/{total}] {} ({})  {risk}  {safe}{sensitive}", index + 1, item.class, item.id)?;
        writeln!(self.output, "  reason:   {}", item.reason)?;
        for (n, line) in item.evidence.iter().enumerate() {
            let label = if n == 0 { "evidence:" } else { "         " };
            writeln!(self.output, "  {label} {line}")?;
        }
        if item.choices.len() > 1 {
            writeln!(
                self.output,
                "  choices:  {} narrower, {} wider (n / w to step)",
                choice,
                item.choices.len() - 1 - choice
            )?;
        }
        self.show_choice(item, choice)
    }

    fn show_choice(&mut self, item: &Item, choice: usize) -> io::Result<()> {
        let Some(c) = item.choices.get(choice) else { return Ok(()) };
        let rule = self.paint("\x1b[1m", &c.rule);
        for (n, line) in rule.lines().enumerate() {
            writeln!(self.output, "  {} {line}", if n == 0 { "rule:    " } else { "         " })?;
        }
        if !c.note.is_empty() {
            writeln!(self.output, "            ({})", c.note)?;
        }
        Ok(())
    }

    /// A sensitive grant is accepted only when the user types `grant`.
    fn confirm_sensitive(&mut self, item: &Item) -> io::Result<bool> {
        let warning = format!("  this grant touches sensitive data ({}): type `grant` to confirm> ", item.class);
        let prompt = self.paint("\x1b[1;31m", &warning);
        match self.ask(&prompt)? {
            Some(answer) if answer.trim() == "grant" => Ok(true),
            _ => {
                writeln!(self.output, "  not confirmed; still undecided")?;
                Ok(false)
            }
        }
    }

    /// Show the diff and ask whether to write. `false` on anything but yes.
    pub fn confirm_write(&mut self, diff: &str, path: &str) -> io::Result<bool> {
        writeln!(self.output)?;
        write!(self.output, "{diff}")?;
        let answer = self.ask(&format!("write {path}? [y/N] > "))?;
        Ok(matches!(answer.as_deref().map(str::trim), Some("y" | "yes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NeedsLiteral;
    impl EditChecker for NeedsLiteral {
        fn check(&self, _item: usize, rule: &str) -> Result<(), String> {
            if rule.contains("literal") {
                Ok(())
            } else {
                Err("does not cover file-read-data /a".to_string())
            }
        }
    }

    fn item(id: &str, purpose: &str, sensitive: bool) -> Item {
        Item {
            id: id.into(),
            purpose: purpose.into(),
            class: "read".into(),
            choices: vec![
                Choice { rule: format!("(allow file-read-data (literal \"/{id}\"))"), note: String::new(), sensitive: false },
                Choice { rule: "(allow file-read* (subpath \"/x\"))".into(), note: "opens 3 more".into(), sensitive: false },
            ],
            proposed: 0,
            reason: "seen".into(),
            evidence: vec!["1 access".into()],
            risk: Risk::Low,
            safe: true,
            sensitive,
        }
    }

    fn run(items: &[Item], input: &str) -> (Outcome, String) {
        let mut input = io::Cursor::new(input.as_bytes().to_vec());
        let mut output = Vec::new();
        let outcome =
            Terminal { input: &mut input, output: &mut output, color: false }.review(items, &NeedsLiteral).unwrap();
        (outcome, String::from_utf8(output).unwrap())
    }

    #[test]
    fn widen_edit_and_sensitive_confirmation() {
        let items = [item("a", "git", false), item("b", "git", true), item("c", "node", false)];
        let (outcome, text) = run(&items, "w\na\na\nnope\na\ngrant\ne\n(allow x)\ne\n(allow file-read-data (literal \"/c\"))\n");
        assert_eq!(
            outcome.decisions,
            vec![
                Decision::Accepted(1),
                Decision::Accepted(0),
                Decision::Edited("(allow file-read-data (literal \"/c\"))".into())
            ]
        );
        assert!(!outcome.quit);
        assert!(text.contains("== git (2 proposals) =="));
        assert!(text.contains("not confirmed"));
        assert!(text.contains("does not cover file-read-data /a"));
    }

    #[test]
    fn quit_and_end_of_input() {
        let items = [item("a", "git", false), item("b", "git", false)];
        let (outcome, _) = run(&items, "r\nq\n");
        assert_eq!(outcome.decisions, vec![Decision::Rejected, Decision::Skipped]);
        assert!(outcome.quit && !outcome.aborted);
        let (outcome, _) = run(&items, "a\n");
        assert!(outcome.aborted);
    }
}
