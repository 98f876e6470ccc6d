//! Value parsers for the library's enums: the library gives each its names (`ALL`, `name`,
//! `FromStr`), the command line adds its help per value, so clap stays out of the library and
//! `--help`, completions and "invalid value" errors list exactly the library's names.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use wa_preflight::report::Format;
use wa_preflight::rules::Profile;

/// A parser that accepts exactly the `names` of `all` (with `help` per value, if any) and
/// returns the library's value.
fn choice<T>(
    all: &[T],
    name: fn(T) -> &'static str,
    help: fn(T) -> Option<&'static str>,
) -> impl TypedValueParser<Value = T>
where
    T: Copy + std::str::FromStr + Send + Sync + 'static,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    PossibleValuesParser::new(all.iter().map(|&v| {
        let p = PossibleValue::new(name(v));
        match help(v) {
            Some(h) => p.help(h),
            None => p,
        }
    }))
    .try_map(|s| s.parse::<T>())
}

/// `--profile`: production or development.
pub fn profile() -> impl TypedValueParser<Value = Profile> {
    choice(&Profile::ALL, Profile::name, |p| {
        Some(match p {
            Profile::Production => "A production host: sizing and database placement rules apply",
            Profile::Development => {
                "A developer or test host: sizing and placement rules are skipped"
            }
        })
    })
}

/// `check --format`.
pub fn format() -> impl TypedValueParser<Value = Format> {
    choice(&Format::ALL, Format::name, |f| match f {
        Format::Summary => Some(
            "One line: the count of each status and the IDs of the rules that need action (for the journal of a timer's run, beside `--report-file`)",
        ),
        Format::Table | Format::Json | Format::Junit | Format::Markdown | Format::Prometheus => {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered<T>(parser: impl TypedValueParser<Value = T>) -> Vec<String> {
        parser
            .possible_values()
            .into_iter()
            .flatten()
            .map(|v| v.get_name().to_string())
            .collect()
    }

    /// What the command line offers is what the library parses, and back.
    #[test]
    fn every_library_name_is_offered_and_parses_back() {
        let profiles = offered(profile());
        assert_eq!(profiles, ["production", "development"]);
        for (name, p) in profiles.iter().zip(Profile::ALL) {
            assert_eq!(name.parse::<Profile>(), Ok(p));
            assert_eq!(p.to_string(), *name);
        }
        let formats = offered(format());
        assert_eq!(
            formats,
            [
                "table",
                "json",
                "junit",
                "markdown",
                "prometheus",
                "summary"
            ]
        );
        for (name, f) in formats.iter().zip(Format::ALL) {
            assert_eq!(name.parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), *name);
        }
        let e = "Table".parse::<Format>().unwrap_err().to_string();
        assert!(e.contains("\"Table\"") && e.contains("summary"), "{e}");
        assert!("prod".parse::<Profile>().is_err());
    }
}
