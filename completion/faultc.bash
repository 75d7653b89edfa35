# bash completion for faultc (made by `faultc completion`; install with
#   faultc completion > /etc/bash_completion.d/faultc
# or add `source <(faultc completion)` to ~/.bashrc)
_faultc() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local cmd='' i file=''
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --) [[ $cmd == trace ]] && { COMPREPLY=($(compgen -c -- "$cur")); return; } ;;
      -*) ;;
      *.pfp|*.policy.json) [[ -n $cmd ]] && file=${COMP_WORDS[i]} ;;
      *) [[ -z $cmd ]] && cmd=${COMP_WORDS[i]} ;;
    esac
  done
  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W 'check compile explain verify run trace features completion fmt lsp lazy-pages guard help -V --version -v --verbose -h --help' -- "$cur"))
    return
  fi
  local opts='' vals=''
  case $cmd in
    check) opts='--json --engine --list-codes -h --help'; vals='--engine' ;;
    compile) opts='-o --out-dir --emit --policy --json -h --help'; vals='-o --out-dir --emit --policy' ;;
    explain) opts='--region --offset --write --handler --policy --source-size --address --in --json -h --help'; vals='--region --offset --handler --policy --source-size --address --in' ;;
    verify) opts='--policy --json -h --help'; vals='--policy' ;;
    run) opts='--region --policy --source --touch --write --threads --seed --verify --engine --json --user-mode-only --no-zero-copy -h --help'; vals='--region --policy --source --touch --threads --seed --engine' ;;
    trace) opts='--pid --policy --policy-name --notify-only --range --vma --json -o --output --record --heatmap --no-follow --no-kernel-faults --write-faults --ring-size --duration -q --quiet -h --help'; vals='--pid --policy --policy-name --range --vma -o --output --record --heatmap --ring-size --duration' ;;
    features) opts='--json -h --help'; vals='' ;;
    completion) opts='-h --help'; vals='--regions' ;;
    fmt) opts='-w --write --check -h --help'; vals='' ;;
    lsp) opts='--stdio -h --help'; vals='' ;;
    lazy-pages) opts='-D --images-dir -W --work-dir --policy --record --replay --prefetch --batch --threads --no-background --json -h --help'; vals='-D --images-dir -W --work-dir --policy --record --replay --prefetch --batch --threads' ;;
    guard) opts='--policy --underflow --continue --align --frames -h --help'; vals='--policy --align --frames' ;;
  esac
  if [[ $prev == --region || $prev == --explain-region ]] && [[ -n $file ]]; then
    COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" completion --regions "$file" 2>/dev/null)" -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _faultc faultc
