" .pfp files are faultc page-fault policies.
autocmd BufRead,BufNewFile *.pfp setfiletype pfp
