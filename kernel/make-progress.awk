# Reads kbuild's short output (`  CC      kernel/fork.o`) and shows, on one
# line of the terminal, how many steps are done: of how many the last build
# took, when known (-v last=N). Any other line (a warning, an error) is
# printed whole on a line of its own. At the end the step count is written
# to the file named by -v count_file, for the next build's percentage.
# Used by kernel/build.sh when its stderr is a terminal.
BEGIN { steps = 0; start = systime(); shown = 0 }
/^  [A-Z][A-Z0-9_]* +[^ ]/ {
	steps++
	what = $0
	sub(/^ +/, "", what)
	gsub(/ +/, " ", what)
	if (length(what) > 48) what = "..." substr(what, length(what) - 44)
	of = last > 0 ? sprintf(" of %d", last) : ""
	pct = last > 0 ? sprintf(" (%d%%)", steps > last ? 99 : int(steps * 100 / last)) : ""
	printf "\r\033[Kbuild: %d%s steps%s, %d s: %s", steps, of, pct, systime() - start, what > "/dev/stderr"
	shown = 1
	next
}
{
	if (shown) printf "\r\033[K" > "/dev/stderr"
	shown = 0
	print > "/dev/stderr"
}
END {
	if (shown) printf "\r\033[K" > "/dev/stderr"
	if (count_file != "") print steps > count_file
}
