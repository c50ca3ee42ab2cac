# fish completion for asyncjob: commands, each command's options (as its
# --help lists them), file names where a path goes, and the ids of your jobs
# (asyncjob --json list, when the daemon answers within a second).

# The command typed so far: the first word after the program that is not an
# option (the word after -s/--socket is the socket's).
function __asyncjob_command
    set -l words (commandline -opc)
    set -l skip 0
    for w in $words[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case -s --socket
                set skip 1
            case '-*'
            case '*'
                echo $w
                return 0
        end
    end
    return 1
end

function __asyncjob_no_command
    not __asyncjob_command >/dev/null
end

function __asyncjob_using
    set -l cmd (__asyncjob_command)
    and contains -- $cmd $argv
end

function __asyncjob_job_ids
    set -l prog asyncjob
    set -l words (commandline -opc)
    set -l socket
    set -l next 0
    for w in $words[2..-1]
        if test $next = 1
            set socket --socket $w
            set next 0
            continue
        end
        switch $w
            case -s --socket
                set next 1
            case '--socket=*'
                set socket $w
        end
    end
    set -l cmd $prog $socket --json --quiet list --limit 1000
    if command -q timeout
        set cmd timeout 1 $cmd
    end
    $cmd 2>/dev/null | string match -r '^\{"id":\d+' | string replace '{"id":' ''
end

complete -c asyncjob -f

# Global options.
complete -c asyncjob -s s -l socket -r -F -d 'the daemon socket'
complete -c asyncjob -l json -d 'print JSON'
complete -c asyncjob -l detach -d 'print the job id and return at once'
complete -c asyncjob -s q -l quiet -d 'no progress or notes'
complete -c asyncjob -s h -l help -d 'show help'
complete -c asyncjob -n __asyncjob_no_command -s V -l version -d 'show the version'

# Commands.
complete -c asyncjob -n __asyncjob_no_command -a sleep -d 'sleep, then print a message'
complete -c asyncjob -n __asyncjob_no_command -a fetch -d 'fetch a URL and print the body'
complete -c asyncjob -n __asyncjob_no_command -a write -d 'write TEXT (or stdin) to a file'
complete -c asyncjob -n __asyncjob_no_command -a gather -d 'run jobs at once, wait for all'
complete -c asyncjob -n __asyncjob_no_command -a submit -d 'submit a JSON job spec'
complete -c asyncjob -n __asyncjob_no_command -a get -d 'show a job'
complete -c asyncjob -n __asyncjob_no_command -a wait -d 'wait for jobs to finish'
complete -c asyncjob -n __asyncjob_no_command -a list -d 'list your recent jobs'
complete -c asyncjob -n __asyncjob_no_command -a cancel -d 'cancel jobs'
complete -c asyncjob -n __asyncjob_no_command -a clean -d 'forget your finished jobs'
complete -c asyncjob -n __asyncjob_no_command -a watch -d 'print job events as they happen'
complete -c asyncjob -n __asyncjob_no_command -a info -d "show the daemon's state"
complete -c asyncjob -n __asyncjob_no_command -a metrics -d "print the daemon's metrics"
complete -c asyncjob -n __asyncjob_no_command -a help -d 'show help for a command'
complete -c asyncjob -n '__asyncjob_using help' -a 'sleep fetch write gather submit get wait list cancel clean watch info metrics'

# The controls every job command takes.
for cmd in sleep fetch write submit
    complete -c asyncjob -n "__asyncjob_using $cmd" -s l -l label -r -d 'name the job'
    complete -c asyncjob -n "__asyncjob_using $cmd" -s t -l timeout -r -d 'fail after S seconds running'
    complete -c asyncjob -n "__asyncjob_using $cmd" -s k -l key -r -d 'idempotency key'
    complete -c asyncjob -n "__asyncjob_using $cmd" -l at -r -d 'start at TIME'
    complete -c asyncjob -n "__asyncjob_using $cmd" -l in -r -d 'start after DURATION'
end

complete -c asyncjob -n '__asyncjob_using fetch' -s X -l request -x -a 'GET HEAD POST PUT PATCH DELETE' -d 'method'
complete -c asyncjob -n '__asyncjob_using fetch' -s H -l header -r -d "send a header 'N: V'"
complete -c asyncjob -n '__asyncjob_using fetch' -s d -l data -r -d 'send a body (@FILE, -)'
complete -c asyncjob -n '__asyncjob_using fetch' -s o -l output -r -F -d 'save the body to FILE'
complete -c asyncjob -n '__asyncjob_using fetch write' -l no-fsync -d 'do not wait for the disk'
complete -c asyncjob -n '__asyncjob_using fetch' -l fail -d 'fail on an HTTP status >= 400'
complete -c asyncjob -n '__asyncjob_using fetch' -l max-bytes -r -d 'fail past N bytes'

complete -c asyncjob -n '__asyncjob_using write' -F
complete -c asyncjob -n '__asyncjob_using write' -s a -l append -d 'append'
complete -c asyncjob -n '__asyncjob_using write' -s c -l create -d 'fail if the file exists'
complete -c asyncjob -n '__asyncjob_using write' -l perm -x -a '0600 0640 0644 0660 0664' -d 'permissions'
complete -c asyncjob -n '__asyncjob_using write' -s p -l mkdirs -d 'create missing directories'

complete -c asyncjob -n '__asyncjob_using gather' -s f -l fail-fast -d 'the first failure cancels the others'
complete -c asyncjob -n '__asyncjob_using gather wait' -s t -l timeout -r -d 'give up after S seconds'
complete -c asyncjob -n '__asyncjob_using wait' -s a -l any -d 'return when any has finished'

complete -c asyncjob -n '__asyncjob_using list cancel clean' -l state -x -a 'queued running succeeded failed canceled' -d 'only jobs in this state'
complete -c asyncjob -n '__asyncjob_using list cancel clean' -l type -x -a 'sleep fetch write' -d 'only jobs of this type'
complete -c asyncjob -n '__asyncjob_using list' -s n -l limit -r -d 'at most N jobs'
complete -c asyncjob -n '__asyncjob_using list' -l results -d 'with --json, the results too'
complete -c asyncjob -n '__asyncjob_using cancel' -l all -d 'every queued and running job'
complete -c asyncjob -n '__asyncjob_using cancel clean' -s l -l label -r -d 'only jobs labelled L'
complete -c asyncjob -n '__asyncjob_using watch' -l since -r -d 'replay the events after SEQ'

# Job ids.
complete -c asyncjob -n '__asyncjob_using get wait cancel watch' -a '(__asyncjob_job_ids)'
