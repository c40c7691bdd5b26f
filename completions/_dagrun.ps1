
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'dagrun' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'dagrun'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'dagrun' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a workflow')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Continue a run from its state file')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check workflow files without running them (exit 0 when valid, 3 when not)')
            [CompletionResult]::new('graph', 'graph', [CompletionResultType]::ParameterValue, 'Print the task graph as Graphviz DOT, Mermaid or JSON')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Summarise a state file')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Print the logs of a run''s tasks')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'List a workflow''s runs: the current one and those kept in its history')
            [CompletionResult]::new('clean', 'clean', [CompletionResultType]::ParameterValue, 'Remove past runs from a workflow''s history, all but the newest')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the JSON Schema of the workflow file format')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dagrun;run' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)')
            [CompletionResult]::new('--param', '--param', [CompletionResultType]::ParameterName, 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)')
            [CompletionResult]::new('--max-tasks', '--max-tasks', [CompletionResultType]::ParameterName, 'Refuse workflows that expand to more tasks than this')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Run at most N tasks at once, across all executors')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Run at most N tasks at once, across all executors')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'The state file (default: .dagrun/<workflow name>/state.json beside the workflow)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'With `--dry-run`: `json` prints the decisions as a JSON array')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Run only these tasks (ids or names) and what they depend on')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Run these tasks (ids or names) and everything downstream of them, up to date or not')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'How to show progress')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'What of the tasks'' output to show on the terminal')
            [CompletionResult]::new('--fail-fast', '--fail-fast', [CompletionResultType]::ParameterName, 'Stop at the first failure: start nothing new and terminate running tasks')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would run, in order, and why each task runs or not; run nothing')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Run every task, even those whose declared outputs are up to date')
            [CompletionResult]::new('--explain', '--explain', [CompletionResultType]::ParameterName, 'Say why each task runs, or that it is up to date, as the run decides it')
            [CompletionResult]::new('--group-markers', '--group-markers', [CompletionResultType]::ParameterName, 'Put `::group::` markers around each task of `--output grouped` (CI logs fold them; failed tasks stay open); on by default under GitHub Actions')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'dagrun;resume' {
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Run at most N tasks at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Run at most N tasks at once')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Re-run these tasks (ids or names, generated ones too) and everything downstream of them')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Continue only these tasks (ids or names) and what they depend on [default: the targets the run was given]')
            [CompletionResult]::new('--workflow', '--workflow', [CompletionResultType]::ParameterName, 'Load the workflow from this file instead of the recorded path')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)')
            [CompletionResult]::new('--param', '--param', [CompletionResultType]::ParameterName, 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)')
            [CompletionResult]::new('--max-tasks', '--max-tasks', [CompletionResultType]::ParameterName, 'Refuse workflows that expand to more tasks than this')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'With `--dry-run`: `json` prints the decisions as a JSON array')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'How to show progress')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'What of the tasks'' output to show on the terminal')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Continue every task, even when the run was given `--target`')
            [CompletionResult]::new('--fail-fast', '--fail-fast', [CompletionResultType]::ParameterName, 'Stop at the first failure')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would run and why each task runs or not; run nothing')
            [CompletionResult]::new('--explain', '--explain', [CompletionResultType]::ParameterName, 'Say why each task runs, or that it is up to date, as the run decides it')
            [CompletionResult]::new('--group-markers', '--group-markers', [CompletionResultType]::ParameterName, 'Put `::group::` markers around each task of `--output grouped` (CI logs fold them; failed tasks stay open); on by default under GitHub Actions')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'dagrun;validate' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)')
            [CompletionResult]::new('--param', '--param', [CompletionResultType]::ParameterName, 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)')
            [CompletionResult]::new('--max-tasks', '--max-tasks', [CompletionResultType]::ParameterName, 'Refuse workflows that expand to more tasks than this')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, '`json` prints the problems as a JSON array (for CI annotations)')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings (a task reading another''s output without depending on it) as errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'dagrun;graph' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)')
            [CompletionResult]::new('--param', '--param', [CompletionResultType]::ParameterName, 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)')
            [CompletionResult]::new('--max-tasks', '--max-tasks', [CompletionResultType]::ParameterName, 'Refuse workflows that expand to more tasks than this')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Colour tasks by their status in this state file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'dagrun;status' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'dagrun;logs' {
            [CompletionResult]::new('--attempt', '--attempt', [CompletionResultType]::ParameterName, 'That attempt''s log instead of the last one''s')
            [CompletionResult]::new('--failed', '--failed', [CompletionResultType]::ParameterName, 'Only tasks that failed')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Follow a live run: print what the logs gain until those tasks end')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Follow a live run: print what the logs gain until those tasks end')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'dagrun;history' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'dagrun;clean' {
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'How many past runs to keep, the newest')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'dagrun;schema' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'dagrun;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'dagrun;help' {
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a workflow')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Continue a run from its state file')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check workflow files without running them (exit 0 when valid, 3 when not)')
            [CompletionResult]::new('graph', 'graph', [CompletionResultType]::ParameterValue, 'Print the task graph as Graphviz DOT, Mermaid or JSON')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Summarise a state file')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Print the logs of a run''s tasks')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'List a workflow''s runs: the current one and those kept in its history')
            [CompletionResult]::new('clean', 'clean', [CompletionResultType]::ParameterValue, 'Remove past runs from a workflow''s history, all but the newest')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the JSON Schema of the workflow file format')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'dagrun;help;run' {
            break
        }
        'dagrun;help;resume' {
            break
        }
        'dagrun;help;validate' {
            break
        }
        'dagrun;help;graph' {
            break
        }
        'dagrun;help;status' {
            break
        }
        'dagrun;help;logs' {
            break
        }
        'dagrun;help;history' {
            break
        }
        'dagrun;help;clean' {
            break
        }
        'dagrun;help;schema' {
            break
        }
        'dagrun;help;completions' {
            break
        }
        'dagrun;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
