//! How the wizard asks: the [`Prompter`] trait, its terminal implementation (dialoguer, on
//! stderr) and, for tests, a scripted one that answers from a list and records the transcript.

use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};

/// The user stopped the wizard (Esc, `q`, a closed terminal): nothing is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cancelled;

/// What the wizard needs from a user.
pub(crate) trait Prompter {
    /// A yes/no question.
    fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool, Cancelled>;
    /// One of `items`; returns its index.
    fn select(
        &mut self,
        prompt: &str,
        items: &[String],
        default: usize,
    ) -> Result<usize, Cancelled>;
    /// Any of `items` (`checked` says which start ticked); returns their indexes.
    fn multi_select(
        &mut self,
        prompt: &str,
        items: &[String],
        checked: &[bool],
    ) -> Result<Vec<usize>, Cancelled>;
    /// A line of text; an empty answer gives `default`.
    fn input(&mut self, prompt: &str, default: &str) -> Result<String, Cancelled>;
    /// Tells the user something (progress, a preview, a problem with an answer).
    fn say(&mut self, text: &str);
}

/// The terminal: dialoguer prompts on stderr, coloured unless `NO_COLOR` is set.
pub(crate) struct Terminal {
    theme: Box<dyn Theme>,
}

impl Terminal {
    pub(crate) fn new() -> Self {
        let theme: Box<dyn Theme> = if std::env::var_os("NO_COLOR").is_some() {
            Box::new(SimpleTheme)
        } else {
            Box::new(ColorfulTheme::default())
        };
        Self { theme }
    }
}

/// Esc, `q` and terminal errors all stop the wizard.
fn answered<T>(result: dialoguer::Result<Option<T>>) -> Result<T, Cancelled> {
    match result {
        Ok(Some(answer)) => Ok(answer),
        Ok(None) | Err(_) => Err(Cancelled),
    }
}

impl Prompter for Terminal {
    fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool, Cancelled> {
        answered(
            dialoguer::Confirm::with_theme(&*self.theme)
                .with_prompt(prompt)
                .default(default)
                .interact_opt(),
        )
    }

    fn select(
        &mut self,
        prompt: &str,
        items: &[String],
        default: usize,
    ) -> Result<usize, Cancelled> {
        answered(
            dialoguer::Select::with_theme(&*self.theme)
                .with_prompt(prompt)
                .items(items)
                .default(default)
                .max_length(15)
                .interact_opt(),
        )
    }

    fn multi_select(
        &mut self,
        prompt: &str,
        items: &[String],
        checked: &[bool],
    ) -> Result<Vec<usize>, Cancelled> {
        answered(
            dialoguer::MultiSelect::with_theme(&*self.theme)
                .with_prompt(format!("{prompt} (space ticks, enter accepts)"))
                .items(items)
                .defaults(checked)
                .max_length(15)
                .interact_opt(),
        )
    }

    fn input(&mut self, prompt: &str, default: &str) -> Result<String, Cancelled> {
        dialoguer::Input::<String>::with_theme(&*self.theme)
            .with_prompt(prompt)
            .default(default.to_owned())
            .show_default(!default.is_empty())
            .allow_empty(true)
            .interact_text()
            .map_err(|_| Cancelled)
    }

    fn say(&mut self, text: &str) {
        crate::output::terminal_line(text);
    }
}

/// Answers for tests, in order, and the transcript of what was asked and said.
#[cfg(test)]
pub(crate) mod script {
    use std::collections::VecDeque;

    use super::{Cancelled, Prompter};

    /// One scripted answer.
    #[derive(Debug, Clone)]
    pub(crate) enum Answer {
        /// To a confirmation.
        Yes,
        No,
        /// To a selection: the first item containing this text.
        Pick(&'static str),
        /// To a multi-selection: exactly the items containing one of these texts.
        Tick(Vec<&'static str>),
        /// To a multi-selection: the pre-ticked items.
        Defaults,
        /// To an input ("" takes the default).
        Type(&'static str),
        /// Stops the wizard at this prompt.
        Escape,
    }

    /// A [`Prompter`] that answers from a script; a prompt it has no matching answer for
    /// fails the test with the prompt.
    #[derive(Debug, Default)]
    pub(crate) struct Script {
        answers: VecDeque<Answer>,
        /// Every prompt (`? prompt`) and every message, in order.
        pub(crate) transcript: Vec<String>,
    }

    impl Script {
        pub(crate) fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
            Self {
                answers: answers.into_iter().collect(),
                transcript: Vec::new(),
            }
        }

        /// The script is used up (every answer was asked for).
        pub(crate) fn finished(&self) -> bool {
            self.answers.is_empty()
        }

        fn next(&mut self, prompt: &str) -> Answer {
            self.transcript.push(format!("? {prompt}"));
            self.answers
                .pop_front()
                .unwrap_or_else(|| panic!("no scripted answer for {prompt:?}"))
        }
    }

    impl Prompter for Script {
        fn confirm(&mut self, prompt: &str, _default: bool) -> Result<bool, Cancelled> {
            match self.next(prompt) {
                Answer::Yes => Ok(true),
                Answer::No => Ok(false),
                Answer::Escape => Err(Cancelled),
                other => panic!("{prompt:?} is a confirmation, the script says {other:?}"),
            }
        }

        fn select(
            &mut self,
            prompt: &str,
            items: &[String],
            _default: usize,
        ) -> Result<usize, Cancelled> {
            match self.next(prompt) {
                Answer::Pick(text) => Ok(items
                    .iter()
                    .position(|item| item.contains(text))
                    .unwrap_or_else(|| panic!("{prompt:?}: no item contains {text:?}: {items:?}"))),
                Answer::Escape => Err(Cancelled),
                other => panic!("{prompt:?} is a selection, the script says {other:?}"),
            }
        }

        fn multi_select(
            &mut self,
            prompt: &str,
            items: &[String],
            checked: &[bool],
        ) -> Result<Vec<usize>, Cancelled> {
            match self.next(prompt) {
                Answer::Tick(texts) => Ok(items
                    .iter()
                    .enumerate()
                    .filter(|(_, item)| texts.iter().any(|text| item.contains(text)))
                    .map(|(index, _)| index)
                    .collect()),
                Answer::Defaults => Ok(checked
                    .iter()
                    .enumerate()
                    .filter(|(_, ticked)| **ticked)
                    .map(|(index, _)| index)
                    .collect()),
                Answer::Escape => Err(Cancelled),
                other => panic!("{prompt:?} is a multi-selection, the script says {other:?}"),
            }
        }

        fn input(&mut self, prompt: &str, default: &str) -> Result<String, Cancelled> {
            match self.next(prompt) {
                Answer::Type("") => Ok(default.to_owned()),
                Answer::Type(text) => Ok(text.to_owned()),
                Answer::Escape => Err(Cancelled),
                other => panic!("{prompt:?} is an input, the script says {other:?}"),
            }
        }

        fn say(&mut self, text: &str) {
            self.transcript.push(text.to_owned());
        }
    }
}
