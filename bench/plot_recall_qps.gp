# Recall-QPS plot of a `mrldb-bench search --csv FILE` run: recall@k on x, QPS on a log y axis,
# one line per system; left panel one thread, right panel all threads. mrldb-bench --plot runs it;
# by hand:
#   gnuplot -e "csv='search.csv'; out='search.png'" bench/plot_recall_qps.gp
# Optional variables: systems (space-separated, plotted in that order; default below),
# plot_title. CSV columns used: 1 system, 4 recall, 5 qps_1thread, 6 qps_all_threads, 7 threads.
if (!exists("csv")) csv = 'search.csv'
if (!exists("out")) out = 'search.png'
if (!exists("systems")) systems = 'mrldb mrldb-default hnswlib faiss exact-mrldb exact-own'
if (!exists("plot_title")) plot_title = 'mrldb-bench search'

set terminal pngcairo size 1500,640 noenhanced font ',10'
set output out
set datafile separator ','
set logscale y
set format y '%g'
set grid xtics ytics mytics
set key bottom left box opaque
set xlabel 'recall@k (against exact full-dimension search)'
set offsets graph 0.02, graph 0.02, 0, 0

threads = 0
stats csv skip 1 using 7 nooutput
threads = STATS_max

# Rows of system s only (others are undefined, so each system's line joins its own points).
pick(s, col) = strcol(1) eq s ? column(col) : NaN

set multiplot layout 1,2 title plot_title
set ylabel 'queries per second, 1 thread'
plot for [s in systems] csv skip 1 using (pick(s, 4)):(pick(s, 5)) \
     with linespoints lw 2 pt 7 title s
set ylabel sprintf('queries per second, %d threads', threads)
plot for [s in systems] csv skip 1 using (pick(s, 4)):(pick(s, 6)) \
     with linespoints lw 2 pt 7 title s
unset multiplot
