//! What is in this daemon's chains now, for `system check`: the rules listed back (`iptables -S`)
//! with the interfaces and addresses they name, and deleting one of them as listed.

use super::{run, Firewall, FirewallError, Table};
use std::net::Ipv4Addr;

/// One rule found in one of the daemon's chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedRule {
    table: Table,
    /// The chain it is in.
    pub chain: String,
    /// Its match and target arguments, as `iptables -S` prints them.
    pub args: Vec<String>,
}

impl ListedRule {
    /// The table it is in (`filter`, `nat`).
    pub fn table(&self) -> &'static str {
        self.table.as_str()
    }

    /// The rule as `iptables -t TABLE -S` prints it.
    pub fn line(&self) -> String {
        format!("-t {} -A {} {}", self.table.as_str(), self.chain, self.args.join(" "))
    }

    fn value<'a>(&'a self, flag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.args.windows(2).filter(move |w| w[0] == flag).map(|w| w[1].as_str())
    }

    /// The interfaces it matches on (`-i`, `-o`, negated or not).
    pub fn interfaces(&self) -> Vec<&str> {
        self.value("-i").chain(self.value("-o")).collect()
    }

    /// The container address a DNAT rule sends to, or a hairpin MASQUERADE rule (`-s A/32 -d A/32`)
    /// is about.
    pub fn container_address(&self) -> Option<Ipv4Addr> {
        if let Some(to) = self.value("--to-destination").next() {
            return to.split(':').next().and_then(|a| a.parse().ok());
        }
        let host = |v: Option<&str>| v.and_then(|a| a.strip_suffix("/32")).and_then(|a| a.parse::<Ipv4Addr>().ok());
        let (s, d) = (host(self.value("-s").next()), host(self.value("-d").next()));
        (s.is_some() && s == d && self.args.iter().any(|a| a == "MASQUERADE")).then_some(s).flatten()
    }
}

impl Firewall {
    /// Every rule in this daemon's chains (jumps between them included).
    pub fn listed_rules(&self) -> Result<Vec<ListedRule>, FirewallError> {
        self.check_prefix()?;
        let mut out = Vec::new();
        for (table, chain) in self.chains() {
            // A chain that does not exist (the firewall was never set up) has no rules.
            let Ok(listing) = run(table, &["-S", &chain]) else { continue };
            for line in listing.lines() {
                let mut words = line.split_whitespace();
                if words.next() != Some("-A") || words.next() != Some(chain.as_str()) {
                    continue;
                }
                let args = words.map(|w| w.trim_matches('"').to_owned()).collect();
                out.push(ListedRule { table, chain: chain.clone(), args });
            }
        }
        Ok(out)
    }

    /// Whether `rule` jumps to another of this daemon's chains (the fixed skeleton).
    pub fn is_skeleton(&self, rule: &ListedRule) -> bool {
        rule.value("-j").next().is_some_and(|t| self.chains().iter().any(|(_, c)| c == t))
    }

    /// Deletes one rule [`Firewall::listed_rules`] found. Succeeds when it is gone already.
    pub fn delete_listed(&self, rule: &ListedRule) -> Result<(), FirewallError> {
        self.check_prefix()?;
        let mut args = vec!["-D", rule.chain.as_str()];
        args.extend(rule.args.iter().map(String::as_str));
        match run(rule.table, &args) {
            Ok(_) => Ok(()),
            Err(FirewallError::Command { stderr, .. }) if stderr.contains("does a matching rule exist") || stderr.contains("No chain") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(args: &str) -> ListedRule {
        ListedRule { table: Table::Nat, chain: "T-DNAT".into(), args: args.split_whitespace().map(str::to_owned).collect() }
    }

    #[test]
    fn names_interfaces_and_container_addresses() {
        let dnat = rule("! -i br-x -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80");
        assert_eq!(dnat.interfaces(), vec!["br-x"]);
        assert_eq!(dnat.container_address(), Some("10.1.0.2".parse().unwrap()));
        let hairpin = rule("-s 10.1.0.2/32 -d 10.1.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE");
        assert_eq!(hairpin.container_address(), Some("10.1.0.2".parse().unwrap()));
        let masq = rule("-s 10.1.0.0/24 ! -o br-x -j MASQUERADE");
        assert_eq!(masq.container_address(), None);
        assert_eq!(masq.interfaces(), vec!["br-x"]);
        assert!(Firewall::new("T").is_skeleton(&rule("-j T-FWD-IN")));
        assert!(!Firewall::new("T").is_skeleton(&rule("-j ACCEPT")));
    }
}
