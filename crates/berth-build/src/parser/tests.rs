use super::*;

fn p(text: &str) -> Dockerfile {
    match parse(text, "Dockerfile") {
        Ok(d) => d,
        Err(e) => panic!("parse failed: {e}"),
    }
}

fn err(text: &str) -> String {
    match parse(text, "Dockerfile") {
        Ok(d) => panic!("expected an error for {text:?}, got {d:?}"),
        Err(e) => e.to_string(),
    }
}

fn only(text: &str) -> Instruction {
    let d = p(&format!("FROM scratch\n{text}"));
    d.stages[0].instructions[0].clone()
}

#[test]
fn every_instruction_parses_in_every_form() {
    let d = p(r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM --platform=linux/amd64 ${BASE}:latest AS build
RUN echo hi
RUN ["echo", "exec"]
RUN --mount=type=cache,target=/var/cache --mount=type=tmpfs,target=/t --network=none make
CMD ["sh"]
CMD echo shell
ENTRYPOINT ["/bin/app", "-v"]
ENV A=1 B="two words" C=three\ words
ENV LEGACY some value here
LABEL a=b "c d"=e
ARG X Y=2
COPY --from=build --chown=1:2 --chmod=755 --link --parents --exclude=*.tmp --exclude=*.log a b /dst/
ADD --checksum=sha256:abc --chown=app https://example.com/x.tgz /x
COPY ["with space", "/dst/"]
WORKDIR /app
USER app:app
EXPOSE 80 443/udp
VOLUME ["/data", "/logs"]
VOLUME /v1 /v2
SHELL ["/bin/bash", "-c"]
HEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s --start-interval=250ms --retries=3 CMD curl -f http://localhost/
HEALTHCHECK NONE
STOPSIGNAL SIGTERM
ONBUILD RUN echo triggered
MAINTAINER someone <a@b.c>
"#);
    assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(d.meta_args.len(), 1);
    let st = &d.stages[0];
    assert_eq!(st.name.as_deref(), Some("build"));
    assert_eq!(st.from.flag("platform"), Some("linux/amd64"));
    assert_eq!(st.from.command, Command::From { image: "${BASE}:latest".into(), alias: Some("build".into()) });
    let i = &st.instructions;
    assert_eq!(i[0].command, Command::Run(CmdLine::Shell("echo hi".into())));
    assert_eq!(i[1].command, Command::Run(CmdLine::Exec(vec!["echo".into(), "exec".into()])));
    assert_eq!(i[2].flag_all("mount"), vec!["type=cache,target=/var/cache", "type=tmpfs,target=/t"]);
    assert_eq!(i[2].flag("network"), Some("none"));
    assert_eq!(i[4].command, Command::Cmd(CmdLine::Shell("echo shell".into())));
    assert_eq!(i[6].command, Command::Env(vec!["A=1".into(), "B=\"two words\"".into(), "C=three\\ words".into()]));
    assert_eq!(i[7].command, Command::Env(vec!["LEGACY=some value here".into()]));
    assert_eq!(i[8].command, Command::Label(vec!["a=b".into(), "\"c d\"=e".into()]));
    assert_eq!(i[9].command, Command::Arg(vec!["X".into(), "Y=2".into()]));
    let copy = &i[10];
    assert_eq!(copy.flag("from"), Some("build"));
    assert_eq!(copy.flag("chown"), Some("1:2"));
    assert!(copy.flag_bool("link") && copy.flag_bool("parents"));
    assert_eq!(copy.flag_all("exclude"), vec!["*.tmp", "*.log"]);
    assert_eq!(copy.command, Command::Copy(CopyArgs { sources: vec!["a".into(), "b".into()], dest: "/dst/".into() }));
    assert_eq!(i[11].flag("checksum"), Some("sha256:abc"));
    assert_eq!(i[12].command, Command::Copy(CopyArgs { sources: vec!["with space".into()], dest: "/dst/".into() }));
    assert_eq!(i[13].command, Command::Workdir("/app".into()));
    assert_eq!(i[14].command, Command::User("app:app".into()));
    assert_eq!(i[15].command, Command::Expose(vec!["80".into(), "443/udp".into()]));
    assert_eq!(i[16].command, Command::Volume(vec!["/data".into(), "/logs".into()]));
    assert_eq!(i[17].command, Command::Volume(vec!["/v1".into(), "/v2".into()]));
    assert_eq!(i[18].command, Command::Shell(vec!["/bin/bash".into(), "-c".into()]));
    assert_eq!(
        i[19].command,
        Command::Healthcheck(Health::Cmd {
            cmd: CmdLine::Shell("curl -f http://localhost/".into()),
            interval: Some(30_000_000_000),
            timeout: Some(90_000_000_000),
            start_period: Some(5_000_000_000),
            start_interval: Some(250_000_000),
            retries: Some(3),
        })
    );
    assert_eq!(i[20].command, Command::Healthcheck(Health::None));
    assert_eq!(i[21].command, Command::StopSignal("SIGTERM".into()));
    match &i[22].command {
        Command::Onbuild(t) => assert_eq!(t.command, Command::Run(CmdLine::Shell("echo triggered".into()))),
        other => panic!("{other:?}"),
    }
    assert_eq!(i[23].command, Command::Maintainer("someone <a@b.c>".into()));
    assert_eq!(i[23].line, 27);
}

#[test]
fn keywords_are_case_insensitive_and_comments_and_blanks_are_skipped() {
    let d = p("# just a comment\n\nfrom scratch as Final\n   # indented comment\nrun true\n");
    assert_eq!(d.stages[0].name.as_deref(), Some("final"));
    assert_eq!(d.stages[0].instructions[0].keyword, "RUN");
    assert_eq!(d.stages[0].instructions[0].line, 5);
    assert_eq!(d.directives.syntax, None, "a directive after a comment is only a comment");
}

#[test]
fn line_continuations_join_and_drop_comment_lines() {
    let i = only("RUN echo a \\\n  # a comment inside\n\n  && echo b\nRUN next");
    assert_eq!(i.command, Command::Run(CmdLine::Shell("echo a   && echo b".into())));
    let d = p("FROM scratch\nRUN a \\\n b\nRUN c\n");
    assert_eq!(d.stages[0].instructions[1].line, 4);
}

#[test]
fn escape_directive_switches_to_backtick() {
    let d = p("# escape=`\nFROM scratch\nRUN dir c:\\ `\n  && echo ok\nENV P=C:\\path");
    assert_eq!(d.directives.escape, '`');
    assert_eq!(d.stages[0].instructions[0].command, Command::Run(CmdLine::Shell("dir c:\\   && echo ok".into())));
    assert!(err("# escape=x\nFROM scratch").contains("invalid escape token"));
}

#[test]
fn heredocs_plain_dash_quoted_several_and_copy() {
    let d = p("FROM scratch\nRUN <<EOF\necho one\necho $HOME\nEOF\nRUN <<-\"END\" cat > /f\n\tindented $X\n\tEND\nRUN cat <<A <<'B'\na\nA\nb\nB\nCOPY <<conf /etc/app.conf\nkey=${V}\nconf\nRUN after\n");
    let i = &d.stages[0].instructions;
    assert_eq!(i[0].heredocs, vec![Heredoc { name: "EOF".into(), content: "echo one\necho $HOME\n".into(), expand: true, strip_tabs: false }]);
    assert_eq!(i[1].heredocs[0], Heredoc { name: "END".into(), content: "indented $X\n".into(), expand: false, strip_tabs: true });
    assert_eq!(i[2].heredocs.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), vec!["A", "B"]);
    assert!(!i[2].heredocs[1].expand);
    assert_eq!(i[3].command, Command::Copy(CopyArgs { sources: vec!["<<conf".into()], dest: "/etc/app.conf".into() }));
    assert_eq!(i[3].heredocs[0].content, "key=${V}\n");
    assert_eq!(i[4].line, 17);
    assert!(err("FROM scratch\nRUN <<EOF\necho\n").contains("Dockerfile:2: RUN: unterminated heredoc EOF"));
}

#[test]
fn errors_name_file_line_and_instruction() {
    assert_eq!(err("FROM scratch\n\n\n\n\n\nRUNN x"), "Dockerfile:7: unknown instruction: RUNN");
    assert_eq!(err("FROM a b"), "Dockerfile:1: FROM requires either one or three arguments");
    assert_eq!(err("FROM scratch\nCOPY onlyone"), "Dockerfile:2: COPY requires at least two arguments, but only 1 provided");
    assert_eq!(err("FROM scratch\nCOPY --bogus a b"), "Dockerfile:2: COPY: unknown flag: --bogus");
    assert_eq!(err("FROM scratch\nRUN --from=x ls"), "Dockerfile:2: RUN: unknown flag: --from");
    assert_eq!(err("FROM scratch\nENV A=1 B"), "Dockerfile:2: Syntax error - can't find = in \"B\". Must be of the form: name=value");
    assert_eq!(err("FROM scratch\nENV =x"), "Dockerfile:2: ENV names can not be blank");
    assert_eq!(err("FROM scratch\nENV ONLYKEY"), "Dockerfile:2: ENV must have two arguments");
    assert_eq!(err("FROM scratch\nSHELL /bin/sh -c"), "Dockerfile:2: SHELL requires the arguments to be in JSON form");
    assert_eq!(err("FROM scratch\nHEALTHCHECK --interval=xyz CMD true"), "Dockerfile:2: HEALTHCHECK: invalid --interval duration \"xyz\"");
    assert_eq!(err("FROM scratch\nHEALTHCHECK BOGUS x"), "Dockerfile:2: HEALTHCHECK: unknown type \"BOGUS\": must be CMD or NONE");
    assert!(err("FROM scratch\nONBUILD ONBUILD RUN x").starts_with("Dockerfile:2: ONBUILD: chaining"));
    assert!(err("FROM scratch\nONBUILD FROM x").contains("isn't allowed as an ONBUILD trigger"));
    assert_eq!(err("RUN x"), "Dockerfile:1: RUN: no build stage in current context (the first instruction must be FROM or ARG)");
    assert_eq!(err("ARG A\n# only args"), "Dockerfile:0: the Dockerfile has no FROM instruction");
    assert!(err("FROM a AS x\nFROM b AS X").contains("duplicate stage name"));
    assert!(err("FROM a AS 1x").contains("invalid name for build stage"));
    assert_eq!(err("FROM scratch\nWORKDIR"), "Dockerfile:2: WORKDIR requires exactly one argument");
    assert!(err("FROM scratch\nCOPY --chown=1 --chown=2 a b").contains("duplicate flag"));
}

#[test]
fn json_form_falls_back_to_shell_when_not_a_string_array() {
    assert_eq!(only("CMD [\"a\", 1]").command, Command::Cmd(CmdLine::Shell("[\"a\", 1]".into())));
    assert_eq!(only("ENTRYPOINT []").command, Command::Entrypoint(CmdLine::Exec(vec![])));
    assert_eq!(only("CMD").command, Command::Cmd(CmdLine::Shell(String::new())));
}

#[test]
fn stages_group_instructions_and_meta_args_precede_from() {
    let d = p("ARG V=1\nARG W\nFROM a AS one\nRUN x\nFROM one\nCOPY --from=one /a /b\nFROM scratch AS last\n");
    assert_eq!(d.meta_args.len(), 2);
    assert_eq!(d.stages.len(), 3);
    assert_eq!(d.stages[1].name, None);
    assert_eq!(d.stages[1].instructions.len(), 1);
}

#[test]
fn durations_parse_like_go() {
    use super::args::parse_duration;
    assert_eq!(parse_duration("1h"), Some(3_600_000_000_000));
    assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
    assert_eq!(parse_duration("2m3s"), Some(123_000_000_000));
    assert_eq!(parse_duration("0"), Some(0));
    assert_eq!(parse_duration("5"), None);
    assert_eq!(parse_duration("5x"), None);
}

#[test]
fn words_keep_quotes_for_the_expander() {
    assert_eq!(super::args::words("a=\"b c\" d='e f' g=h\\ i", '\\'), vec!["a=\"b c\"", "d='e f'", "g=h\\ i"]);
}
