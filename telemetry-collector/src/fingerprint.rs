//! Error fingerprints: the same failure with different numbers, ids or quoted names is one
//! group. Fingerprint = SHA-256 of kind, normalized message and location (first 16 hex).

use ring::digest::{SHA256, digest};

/// Replaces what varies between occurrences of one failure: 32-hex ids (EOS ids) by
/// `<id>`, runs of digits by `#`, quoted text by `"…"`.
pub fn normalize(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let chars: Vec<char> = message.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if (c == '"' || c == '\'' || c == '`')
            && let Some(len) = chars[i + 1..].iter().position(|&d| d == c)
        {
            out.push(c);
            out.push('…');
            out.push(c);
            i += len + 2;
            continue;
        }
        let hex_run = chars[i..]
            .iter()
            .take_while(|d| d.is_ascii_hexdigit())
            .count();
        if hex_run >= 32 {
            out.push_str("<id>");
            i += hex_run;
            continue;
        }
        if c.is_ascii_digit() {
            out.push('#');
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

pub fn fingerprint(kind: &str, normalized: &str, location: &str) -> String {
    let input = format!("{kind}\0{normalized}\0{location}");
    tower_ingest::hex::encode(&digest(&SHA256, input.as_bytes()).as_ref()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrences_that_differ_only_in_data_share_a_fingerprint() {
        let a = normalize("connect to 10.0.0.7:2222 failed after 5000 ms for 'Alpha Server'");
        let b = normalize("connect to 192.168.1.1:22 failed after 31 ms for 'Beta'");
        assert_eq!(a, b);
        assert_eq!(a, "connect to #.#.#.#:# failed after # ms for '…'");
        assert_eq!(
            fingerprint("sftp.connect", &a, "pool"),
            fingerprint("sftp.connect", &b, "pool")
        );
        assert_ne!(
            fingerprint("sftp.connect", &a, "pool"),
            fingerprint("sftp.auth", &a, "pool")
        );
    }

    #[test]
    fn eos_ids_collapse_and_unterminated_quotes_stay() {
        assert_eq!(
            normalize("player 0002e69a65204b669c20238266782d7b said \"hi"),
            "player <id> said \"hi"
        );
    }
}
