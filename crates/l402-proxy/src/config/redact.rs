//! Keeping secrets out of what configuration errors and `Debug` print (decision 0816): the
//! admin token and the PostgreSQL password may sit in the file, and a syntax error on their
//! line must not echo it into a terminal or a log.

/// What a secret is shown as.
pub(super) const REDACTED: &str = "<redacted>";

/// A PostgreSQL connection string with its password replaced by [`REDACTED`], the rest kept:
/// the URL form's `user:password@` and `password=` query parameter, and the key-value form's
/// `password=value` (quoted or not). When in doubt it hides more, never less.
pub(super) fn postgres_url(url: &str) -> String {
    // libpq reads a URI only when the string starts with its scheme; anything else is the
    // key-value form, whatever `://` its values hold.
    let uri = url.split_once("://").filter(|(scheme, _)| {
        scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql")
    });
    if let Some((scheme, rest)) = uri {
        // The user info ends at the last `@` of the whole string: an unescaped `@`, `/` or
        // `?` in the password then hides more (the host too), never less.
        let (user, after) = match rest.rsplit_once('@') {
            Some((user, after)) => match user.split_once(':') {
                Some((name, _)) => (format!("{name}:{REDACTED}@"), after),
                None => (format!("{user}@"), after),
            },
            None => (String::new(), rest),
        };
        let (host, query) = match after.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (after, None),
        };
        let query = query.map(|q| {
            q.split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => {
                        format!("{k}={REDACTED}")
                    }
                    _ => pair.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("&")
        });
        return match query {
            Some(q) => format!("{scheme}://{user}{host}?{q}"),
            None => format!("{scheme}://{user}{host}"),
        };
    }
    key_value_password(url)
}

/// `password = value` in libpq's key-value form: the value, quoted (`'…'`, with `\`
/// escapes) or up to the next space, becomes [`REDACTED`].
fn key_value_password(config: &str) -> String {
    let mut out = String::with_capacity(config.len());
    let mut rest = config;
    while let Some(at) = find_key(rest, "password") {
        let (head, tail) = rest.split_at(at + "password".len());
        let after_key = tail.trim_start();
        let Some(value) = after_key.strip_prefix('=') else {
            out.push_str(head);
            rest = tail;
            continue;
        };
        out.push_str(head);
        out.push('=');
        out.push_str(REDACTED);
        let value = value.trim_start();
        rest = if let Some(quoted) = value.strip_prefix('\'') {
            let mut end = quoted.len();
            let mut escaped = false;
            for (i, c) in quoted.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '\'' => {
                        end = i + 1;
                        break;
                    }
                    _ => {}
                }
            }
            quoted.get(end..).unwrap_or_default()
        } else {
            let mut end = value.len();
            let mut escaped = false;
            for (i, c) in value.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    c if c.is_whitespace() => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            value.get(end..).unwrap_or_default()
        };
    }
    out.push_str(rest);
    out
}

/// Where `key` starts as a whole word (at the start or after whitespace).
fn find_key(s: &str, key: &str) -> Option<usize> {
    s.match_indices(key)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || s.get(..i).is_some_and(|h| h.ends_with(char::is_whitespace)))
}

/// A TOML syntax error as `line L, column C: message`: the position and the parser's
/// message, never the source line `toml`'s `Display` quotes.
pub(super) fn syntax_error(text: &str, e: &toml::de::Error) -> String {
    let message = unexpected_hidden(e.message());
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// A schema error (a value of the wrong type or out of range) with the key it is about, but
/// not the value: serde's "invalid type: string \"…\"" names the value it refused, and that
/// value may be a secret.
pub(super) fn schema_error(e: &toml::de::Error) -> String {
    let text = e.to_string();
    let lines: Vec<String> = text
        .split('\n')
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(unexpected_hidden)
        .collect();
    lines.join(" | ")
}

/// `invalid type: string "secret", expected u64` → `invalid type: string, expected u64`;
/// other messages unchanged.
fn unexpected_hidden(message: &str) -> String {
    for lead in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(lead) {
            let (unexpected, expected) = match rest.split_once(", expected ") {
                Some((u, x)) => (u, Some(x)),
                None => (rest, None),
            };
            // The kind is the words before the first quoted one (`string`, `floating point`).
            let kind: Vec<&str> =
                unexpected.split(' ').take_while(|w| !w.starts_with(['"', '`', '\''])).collect();
            let kind = kind.join(" ");
            return match expected {
                Some(x) => format!("{lead}{kind}, expected {x}"),
                None => format!("{lead}{kind}"),
            };
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the password is made of (`@`, `:`, quotes, spaces, `password=`), neither
        /// form shows it, and the host stays.
        #[test]
        fn no_password_survives(
            user in "[a-z]{1,8}",
            password in "[A-Za-z0-9@:/?&=' %\\\\]{0,12}XyZ[A-Za-z0-9@:/?&=' %]{0,12}",
            host in "[a-z]{1,8}",
        ) {
            let url = format!("postgres://{user}:{password}@{host}/db?sslmode=require");
            let shown = postgres_url(&url);
            prop_assert!(!shown.contains("XyZ"), "{} -> {}", url, shown);
            let escaped = password.replace('\\', "\\\\").replace('\'', "\\'");
            let kv = format!("host={host} password='{escaped}' user={user}");
            let shown = postgres_url(&kv);
            prop_assert!(!shown.contains("XyZ"), "{} -> {}", kv, shown);
            prop_assert!(shown.contains(&format!("host={host}")), "{}", shown);
        }

        /// Any text: no panic.
        #[test]
        fn any_text_is_handled(s in "\\PC{0,40}") {
            let _ = postgres_url(&s);
        }
    }

    #[test]
    fn postgres_passwords_are_hidden_and_the_rest_kept() {
        for (url, shown) in [
            ("postgres://u:secret@db:5432/l402", "postgres://u:<redacted>@db:5432/l402"),
            (
                "postgresql://u:se%40cret@db/l402?sslmode=require",
                "postgresql://u:<redacted>@db/l402?sslmode=require",
            ),
            ("postgres://u:p@ss@db/x", "postgres://u:<redacted>@db/x"),
            (
                "postgres://u@db/x?password=secret&sslmode=require",
                "postgres://u@db/x?password=<redacted>&sslmode=require",
            ),
            ("postgres://db/x", "postgres://db/x"),
            (
                "host=db user=u password=secret dbname=x",
                "host=db user=u password=<redacted> dbname=x",
            ),
            ("host=db password = 'se cr\\'et' dbname=x", "host=db password=<redacted> dbname=x"),
            ("password=se\\ cret", "password=<redacted>"),
            ("host=db mypassword=kept", "host=db mypassword=kept"),
        ] {
            assert_eq!(postgres_url(url), shown, "{url}");
            assert!(!postgres_url(url).contains("secret"), "{url}");
        }
    }

    #[test]
    fn refused_values_are_not_named() {
        assert_eq!(
            unexpected_hidden("invalid type: string \"s3cret\", expected u64"),
            "invalid type: string, expected u64"
        );
        assert_eq!(
            unexpected_hidden("invalid type: integer `123456`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            unexpected_hidden("invalid value: floating point `1.5`, expected a whole number"),
            "invalid value: floating point, expected a whole number"
        );
        assert_eq!(unexpected_hidden("unknown field `x`"), "unknown field `x`");
    }

    /// A key-value string whose password holds `://` is not read as a URL (found by
    /// `no_password_survives`).
    #[test]
    fn a_url_inside_a_key_value_password_is_hidden() {
        let shown = postgres_url("host=a password='XyZ://' user=a");
        assert_eq!(shown, "host=a password=<redacted> user=a");
    }
}
