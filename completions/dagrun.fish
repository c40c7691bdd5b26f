# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dagrun_global_optspecs
    string join \n h/help V/version
end

function __fish_dagrun_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dagrun_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dagrun_using_subcommand
    set -l cmd (__fish_dagrun_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dagrun -n "__fish_dagrun_needs_command" -s h -l help -d 'Print help'
complete -c dagrun -n "__fish_dagrun_needs_command" -s V -l version -d 'Print version'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "run" -d 'Run a workflow'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "resume" -d 'Continue a run from its state file'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "validate" -d 'Check workflow files without running them (exit 0 when valid, 3 when not)'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "graph" -d 'Print the task graph as Graphviz DOT, Mermaid or JSON'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "status" -d 'Summarise a state file'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "logs" -d 'Print the logs of a run\'s tasks'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "history" -d 'List a workflow\'s runs: the current one and those kept in its history'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "clean" -d 'Remove past runs from a workflow\'s history, all but the newest'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "schema" -d 'Print the JSON Schema of the workflow file format'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c dagrun -n "__fish_dagrun_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -s p -l param -d 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p \'xs=[a,b]\'`)' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l max-tasks -d 'Refuse workflows that expand to more tasks than this' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -s j -l jobs -d 'Run at most N tasks at once, across all executors' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l state -d 'The state file (default: .dagrun/<workflow name>/state.json beside the workflow)' -r -F
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l format -d 'With `--dry-run`: `json` prints the decisions as a JSON array' -r -f -a "text\t''
json\t''"
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l target -d 'Run only these tasks (ids or names) and what they depend on' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l from -d 'Run these tasks (ids or names) and everything downstream of them, up to date or not' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l progress -d 'How to show progress' -r -f -a "auto\t'Bars on a terminal, plain lines otherwise'
bar\t'Progress bars'
plain\t'One line per task event'
none\t'Nothing but the final summary'"
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l output -d 'What of the tasks\' output to show on the terminal' -r -f -a "prefixed\t'Every line of every task as it comes, as `[task-id] line`'
grouped\t'A task\'s output whole when it ends'
failed\t'Only failed tasks\' output, under their failure'
none\t'No task output (the logs have it)'"
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l fail-fast -d 'Stop at the first failure: start nothing new and terminate running tasks'
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l dry-run -d 'Print what would run, in order, and why each task runs or not; run nothing'
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l force -d 'Run every task, even those whose declared outputs are up to date'
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l explain -d 'Say why each task runs, or that it is up to date, as the run decides it'
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -l group-markers -d 'Put `::group::` markers around each task of `--output grouped` (CI logs fold them; failed tasks stay open); on by default under GitHub Actions'
complete -c dagrun -n "__fish_dagrun_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -s j -l jobs -d 'Run at most N tasks at once' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l from -d 'Re-run these tasks (ids or names, generated ones too) and everything downstream of them' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l target -d 'Continue only these tasks (ids or names) and what they depend on [default: the targets the run was given]' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l workflow -d 'Load the workflow from this file instead of the recorded path' -r -F
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -s p -l param -d 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p \'xs=[a,b]\'`)' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l max-tasks -d 'Refuse workflows that expand to more tasks than this' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l format -d 'With `--dry-run`: `json` prints the decisions as a JSON array' -r -f -a "text\t''
json\t''"
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l progress -d 'How to show progress' -r -f -a "auto\t'Bars on a terminal, plain lines otherwise'
bar\t'Progress bars'
plain\t'One line per task event'
none\t'Nothing but the final summary'"
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l output -d 'What of the tasks\' output to show on the terminal' -r -f -a "prefixed\t'Every line of every task as it comes, as `[task-id] line`'
grouped\t'A task\'s output whole when it ends'
failed\t'Only failed tasks\' output, under their failure'
none\t'No task output (the logs have it)'"
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l all -d 'Continue every task, even when the run was given `--target`'
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l fail-fast -d 'Stop at the first failure'
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l dry-run -d 'Print what would run and why each task runs or not; run nothing'
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l explain -d 'Say why each task runs, or that it is up to date, as the run decides it'
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -l group-markers -d 'Put `::group::` markers around each task of `--output grouped` (CI logs fold them; failed tasks stay open); on by default under GitHub Actions'
complete -c dagrun -n "__fish_dagrun_using_subcommand resume" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dagrun -n "__fish_dagrun_using_subcommand validate" -s p -l param -d 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p \'xs=[a,b]\'`)' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand validate" -l max-tasks -d 'Refuse workflows that expand to more tasks than this' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand validate" -l format -d '`json` prints the problems as a JSON array (for CI annotations)' -r -f -a "text\t''
json\t''"
complete -c dagrun -n "__fish_dagrun_using_subcommand validate" -l strict -d 'Treat warnings (a task reading another\'s output without depending on it) as errors'
complete -c dagrun -n "__fish_dagrun_using_subcommand validate" -s h -l help -d 'Print help'
complete -c dagrun -n "__fish_dagrun_using_subcommand graph" -s p -l param -d 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p \'xs=[a,b]\'`)' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand graph" -l max-tasks -d 'Refuse workflows that expand to more tasks than this' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand graph" -l format -r -f -a "dot\t''
mermaid\t''
json\t''"
complete -c dagrun -n "__fish_dagrun_using_subcommand graph" -l state -d 'Colour tasks by their status in this state file' -r -F
complete -c dagrun -n "__fish_dagrun_using_subcommand graph" -s h -l help -d 'Print help'
complete -c dagrun -n "__fish_dagrun_using_subcommand status" -l format -r -f -a "text\t''
json\t''"
complete -c dagrun -n "__fish_dagrun_using_subcommand status" -s h -l help -d 'Print help'
complete -c dagrun -n "__fish_dagrun_using_subcommand logs" -l attempt -d 'That attempt\'s log instead of the last one\'s' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand logs" -l failed -d 'Only tasks that failed'
complete -c dagrun -n "__fish_dagrun_using_subcommand logs" -s f -l follow -d 'Follow a live run: print what the logs gain until those tasks end'
complete -c dagrun -n "__fish_dagrun_using_subcommand logs" -s h -l help -d 'Print help'
complete -c dagrun -n "__fish_dagrun_using_subcommand history" -l format -r -f -a "text\t''
json\t''"
complete -c dagrun -n "__fish_dagrun_using_subcommand history" -s h -l help -d 'Print help'
complete -c dagrun -n "__fish_dagrun_using_subcommand clean" -l keep -d 'How many past runs to keep, the newest' -r
complete -c dagrun -n "__fish_dagrun_using_subcommand clean" -s h -l help -d 'Print help'
complete -c dagrun -n "__fish_dagrun_using_subcommand schema" -s h -l help -d 'Print help'
complete -c dagrun -n "__fish_dagrun_using_subcommand completions" -s h -l help -d 'Print help'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "run" -d 'Run a workflow'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "resume" -d 'Continue a run from its state file'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "validate" -d 'Check workflow files without running them (exit 0 when valid, 3 when not)'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "graph" -d 'Print the task graph as Graphviz DOT, Mermaid or JSON'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "status" -d 'Summarise a state file'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "logs" -d 'Print the logs of a run\'s tasks'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "history" -d 'List a workflow\'s runs: the current one and those kept in its history'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "clean" -d 'Remove past runs from a workflow\'s history, all but the newest'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "schema" -d 'Print the JSON Schema of the workflow file format'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "completions" -d 'Print shell completions'
complete -c dagrun -n "__fish_dagrun_using_subcommand help; and not __fish_seen_subcommand_from run resume validate graph status logs history clean schema completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
