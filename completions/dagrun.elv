
use builtin;
use str;

set edit:completion:arg-completer[dagrun] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'dagrun'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'dagrun'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand run 'Run a workflow'
            cand resume 'Continue a run from its state file'
            cand validate 'Check workflow files without running them (exit 0 when valid, 3 when not)'
            cand graph 'Print the task graph as Graphviz DOT, Mermaid or JSON'
            cand status 'Summarise a state file'
            cand logs 'Print the logs of a run''s tasks'
            cand history 'List a workflow''s runs: the current one and those kept in its history'
            cand clean 'Remove past runs from a workflow''s history, all but the newest'
            cand schema 'Print the JSON Schema of the workflow file format'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dagrun;run'= {
            cand -p 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)'
            cand --param 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)'
            cand --max-tasks 'Refuse workflows that expand to more tasks than this'
            cand -j 'Run at most N tasks at once, across all executors'
            cand --jobs 'Run at most N tasks at once, across all executors'
            cand --state 'The state file (default: .dagrun/<workflow name>/state.json beside the workflow)'
            cand --format 'With `--dry-run`: `json` prints the decisions as a JSON array'
            cand --target 'Run only these tasks (ids or names) and what they depend on'
            cand --from 'Run these tasks (ids or names) and everything downstream of them, up to date or not'
            cand --progress 'How to show progress'
            cand --output 'What of the tasks'' output to show on the terminal'
            cand --fail-fast 'Stop at the first failure: start nothing new and terminate running tasks'
            cand --dry-run 'Print what would run, in order, and why each task runs or not; run nothing'
            cand --force 'Run every task, even those whose declared outputs are up to date'
            cand --explain 'Say why each task runs, or that it is up to date, as the run decides it'
            cand --group-markers 'Put `::group::` markers around each task of `--output grouped` (CI logs fold them; failed tasks stay open); on by default under GitHub Actions'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'dagrun;resume'= {
            cand -j 'Run at most N tasks at once'
            cand --jobs 'Run at most N tasks at once'
            cand --from 'Re-run these tasks (ids or names, generated ones too) and everything downstream of them'
            cand --target 'Continue only these tasks (ids or names) and what they depend on [default: the targets the run was given]'
            cand --workflow 'Load the workflow from this file instead of the recorded path'
            cand -p 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)'
            cand --param 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)'
            cand --max-tasks 'Refuse workflows that expand to more tasks than this'
            cand --format 'With `--dry-run`: `json` prints the decisions as a JSON array'
            cand --progress 'How to show progress'
            cand --output 'What of the tasks'' output to show on the terminal'
            cand --all 'Continue every task, even when the run was given `--target`'
            cand --fail-fast 'Stop at the first failure'
            cand --dry-run 'Print what would run and why each task runs or not; run nothing'
            cand --explain 'Say why each task runs, or that it is up to date, as the run decides it'
            cand --group-markers 'Put `::group::` markers around each task of `--output grouped` (CI logs fold them; failed tasks stay open); on by default under GitHub Actions'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'dagrun;validate'= {
            cand -p 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)'
            cand --param 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)'
            cand --max-tasks 'Refuse workflows that expand to more tasks than this'
            cand --format '`json` prints the problems as a JSON array (for CI annotations)'
            cand --strict 'Treat warnings (a task reading another''s output without depending on it) as errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'dagrun;graph'= {
            cand -p 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)'
            cand --param 'Override a param: `-p key=value` (the value is parsed as YAML: `-p n=3`, `-p ''xs=[a,b]''`)'
            cand --max-tasks 'Refuse workflows that expand to more tasks than this'
            cand --format 'format'
            cand --state 'Colour tasks by their status in this state file'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'dagrun;status'= {
            cand --format 'format'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'dagrun;logs'= {
            cand --attempt 'That attempt''s log instead of the last one''s'
            cand --failed 'Only tasks that failed'
            cand -f 'Follow a live run: print what the logs gain until those tasks end'
            cand --follow 'Follow a live run: print what the logs gain until those tasks end'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'dagrun;history'= {
            cand --format 'format'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'dagrun;clean'= {
            cand --keep 'How many past runs to keep, the newest'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'dagrun;schema'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'dagrun;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'dagrun;help'= {
            cand run 'Run a workflow'
            cand resume 'Continue a run from its state file'
            cand validate 'Check workflow files without running them (exit 0 when valid, 3 when not)'
            cand graph 'Print the task graph as Graphviz DOT, Mermaid or JSON'
            cand status 'Summarise a state file'
            cand logs 'Print the logs of a run''s tasks'
            cand history 'List a workflow''s runs: the current one and those kept in its history'
            cand clean 'Remove past runs from a workflow''s history, all but the newest'
            cand schema 'Print the JSON Schema of the workflow file format'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'dagrun;help;run'= {
        }
        &'dagrun;help;resume'= {
        }
        &'dagrun;help;validate'= {
        }
        &'dagrun;help;graph'= {
        }
        &'dagrun;help;status'= {
        }
        &'dagrun;help;logs'= {
        }
        &'dagrun;help;history'= {
        }
        &'dagrun;help;clean'= {
        }
        &'dagrun;help;schema'= {
        }
        &'dagrun;help;completions'= {
        }
        &'dagrun;help;help'= {
        }
    ]
    $completions[$command]
}
