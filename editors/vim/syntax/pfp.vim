" Vim syntax file for .pfp page-fault policies (faultc).
" Generated from grammar/tokens.ts by runtime/lsp/editor-syntax.ts: do not edit.
if exists("b:current_syntax")
  finish
endif

syn case match
syn keyword pfpDeclaration policy source file region
syn keyword pfpHandler on missing
syn keyword pfpConditional if else
syn keyword pfpAction zero fill copy sigbus defer prefetch notify track dirty
syn keyword pfpValue write read offset address
syn keyword pfpUnit pages page KiB MiB GiB TiB B
syn keyword pfpLogic and or not in
syn keyword pfpKeyword size at ahead behind around block set
syn match pfpNumber "\<\(0[xX][0-9A-Za-z_]*\|[0-9][0-9_]*\)\>"
syn match pfpEscape +\\.+ contained
syn region pfpString start=+"+ skip=+\\.+ end=+"\|$+ contains=pfpEscape
syn match pfpComment "#.*$" contains=@Spell

hi def link pfpDeclaration Structure
hi def link pfpHandler Label
hi def link pfpConditional Conditional
hi def link pfpAction Statement
hi def link pfpValue Identifier
hi def link pfpUnit Type
hi def link pfpLogic Operator
hi def link pfpKeyword Keyword
hi def link pfpNumber Number
hi def link pfpEscape SpecialChar
hi def link pfpString String
hi def link pfpComment Comment

let b:current_syntax = "pfp"
