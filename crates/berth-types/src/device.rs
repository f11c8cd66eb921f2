//! Device access as the Engine API spells it: `--device-cgroup-rule` (`HostConfig.DeviceCgroupRules`,
//! checked by the docker CLI at parse time and by the daemon when it makes the spec).

/// One cgroup device rule, `TYPE MAJOR:MINOR ACCESS`: type `a` (all), `b` or `c`; numbers or `*`
/// (any, `None`); access any of `r`, `w`, `m`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupRule {
    /// `a`, `b` or `c`.
    pub kind: char,
    /// `None` for `*`.
    pub major: Option<u64>,
    /// `None` for `*`.
    pub minor: Option<u64>,
    /// One to three of `r`, `w`, `m`.
    pub access: String,
}

impl CgroupRule {
    /// Parses a rule in exactly the form docker accepts (single spaces, no other characters);
    /// `None` otherwise.
    pub fn parse(rule: &str) -> Option<CgroupRule> {
        let mut parts = rule.split(' ');
        let (kind, numbers, access) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let kind = match kind {
            "a" => 'a',
            "b" => 'b',
            "c" => 'c',
            _ => return None,
        };
        if access.is_empty() || access.len() > 3 || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return None;
        }
        let (major, minor) = numbers.split_once(':')?;
        let number = |n: &str| -> Option<Option<u64>> {
            if n == "*" {
                Some(None)
            } else if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                n.parse().ok().map(Some)
            } else {
                None
            }
        };
        Some(CgroupRule { kind, major: number(major)?, minor: number(minor)?, access: access.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_as_docker_takes_them() {
        assert_eq!(CgroupRule::parse("c 1:3 rwm"), Some(CgroupRule { kind: 'c', major: Some(1), minor: Some(3), access: "rwm".into() }));
        assert_eq!(CgroupRule::parse("b *:* r"), Some(CgroupRule { kind: 'b', major: None, minor: None, access: "r".into() }));
        assert_eq!(CgroupRule::parse("a 7:* mw"), Some(CgroupRule { kind: 'a', major: Some(7), minor: None, access: "mw".into() }));
        for bad in ["x 1:3 rwm", "c 1:3", "c 1-3 rwm", "c 1:3 rwx", "c 1:3 rwmr", "c a:3 r", "c 1:3  r", "c :3 r", "c 1:3 rwm ", ""] {
            assert_eq!(CgroupRule::parse(bad), None, "{bad:?}");
        }
    }
}
