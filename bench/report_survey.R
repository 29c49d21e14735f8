#!/usr/bin/env Rscript
# The benchmark report of bench/run_report_bench.py, in R's survey package: every index of
# sipas-dvhcc-2023@1 (SIPAS = HL, the five elements, the sixteen items) by centre x quarter and
# for the whole sample, post-stratified to centre x field totals, strata centre x quarter.
#
#     Rscript bench/report_survey.R RESPONSES.csv TOTALS.csv OUT.csv [INDEX...]
#
# Each index is `svyby(~y, ~center_code + period, subset(design, valid), svymean,
# deff = "replace")` (R's domain estimation: n_h of the whole file) plus `svymean` for the whole
# sample; the interval is `confint()`'s (Wald). With INDEX arguments only those question codes
# are estimated (to time a part: on 200,000 responses one index takes R most of an hour, each
# of the 1,600 domains about 1.7 s, as svyby re-estimates over all rows per domain).
# Prints the seconds spent reading (and building the design) and estimating.
suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "adjust")

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3) stop("usage: report_survey.R RESPONSES.csv TOTALS.csv OUT.csv [INDEX...]")
started <- proc.time()[["elapsed"]]
d <- read.csv(args[[1]], colClasses = "character", na.strings = character(0),
              fileEncoding = "UTF-8-BOM")
# quarter in Asia/Ho_Chi_Minh time from ISO 8601 with an offset
instant <- as.POSIXct(sub("([+-][0-9]{2}):([0-9]{2})$", "\\1\\2", d$submitted_at),
                      format = "%Y-%m-%dT%H:%M:%S%z", tz = "UTC")
local <- as.POSIXlt(instant, tz = "Asia/Ho_Chi_Minh")
d$period <- paste0(local$year + 1900, "-Q", local$mon %/% 3 + 1)
totals <- read.csv(args[[2]], colClasses = "character")
totals$Freq <- as.numeric(totals$population)
totals$population <- NULL
d$one <- 1
indices <- c(SIPAS = "HL", TC = "TC", TT = "TT", CC = "CC", KQ = "KQ", PA = "PA",
             TC1 = "TC1", TC2 = "TC2", TC3 = "TC3", TT1 = "TT1", TT2 = "TT2", TT3 = "TT3",
             TT4 = "TT4", CC1 = "CC1", CC2 = "CC2", CC3 = "CC3", KQ1 = "KQ1", KQ2 = "KQ2",
             KQ3 = "KQ3", PA1 = "PA1", PA2 = "PA2", PA3 = "PA3")
if (length(args) > 3) indices <- indices[indices %in% args[-(1:3)] | names(indices) %in% args[-(1:3)]]
for (q in indices) {
  d[[paste0("v_", q)]] <- d[[q]] %in% c("1", "2", "3", "4", "5")
  d[[paste0("y_", q)]] <- as.numeric(d[[q]] %in% c("4", "5"))
}
design <- postStratify(
  svydesign(ids = ~1, strata = ~interaction(center_code, period, drop = TRUE), weights = ~one,
            data = d),
  ~center_code + field_code, totals
)
read_seconds <- proc.time()[["elapsed"]] - started

rows <- list()
for (name in names(indices)) {
  q <- indices[[name]]
  sub <- subset(design, d[[paste0("v_", q)]])
  y <- as.formula(paste0("~y_", q))
  whole <- svymean(y, sub, deff = "replace")
  ci <- confint(whole)
  rows[[length(rows) + 1]] <- data.frame(
    index = name, center_code = "", period = "", estimate = unname(coef(whole)),
    se = unname(SE(whole)), ci_low = ci[1, 1], ci_high = ci[1, 2], deff = unname(deff(whole))
  )
  by <- svyby(y, ~center_code + period, sub, svymean, deff = "replace", vartype = c("se", "ci"))
  rows[[length(rows) + 1]] <- data.frame(
    index = name, center_code = as.character(by$center_code), period = as.character(by$period),
    estimate = unname(coef(by)), se = unname(SE(by)), ci_low = by$ci_l, ci_high = by$ci_u,
    deff = by[[grep("^DEff", names(by))[1]]]
  )
}
results <- do.call(rbind, rows)
estimate_seconds <- proc.time()[["elapsed"]] - started - read_seconds
for (col in c("estimate", "se", "ci_low", "ci_high", "deff")) {
  results[[col]] <- sprintf("%.17g", results[[col]])
}
write.csv(results, args[[3]], row.names = FALSE)
cat(sprintf("read %.1f s, estimate %.1f s, indices %d, rows %d\n", read_seconds, estimate_seconds,
            length(indices), nrow(results)))
