#!/usr/bin/env Rscript
# Reference numbers for tests/analysis (statistics.md §7), computed with R's `survey` package.
#
# Regenerate (from the repository root; writes into tests/analysis/r unless OUTDIR is given):
#
#     Rscript tests/analysis/r/reference.R [OUTDIR]
#
# Inputs (committed, made by tests/analysis/r/make_data.py): responses.csv, totals_field.csv,
# totals_gender.csv, totals_center_field.csv.
# Outputs (committed): reference_estimates.csv, reference_mean_of_items.csv,
# reference_svyby.csv, reference_weights.csv, reference_session.txt.
#
# Every estimate is `svymean(~y, design[valid & domain, ], deff = "replace")` on the whole-file
# design (so n_h counts every respondent of the stratum: R's domain estimation), with
# options(survey.lonely.psu = "adjust"). Intervals:
#   kg_*     svyciprop(method = "beta") where R's own function applies (designs without
#            calibration, p in (0, 1), V > 0, df > 0); otherwise the formula of statistics.md §4,
#            written out below with R's qt/qbeta (column kg_source says which).
#   logit_*  svyciprop(method = "xlogit")
#   wald_*   confint(svymean(...)) clipped to [0, 1]
suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "adjust")
options(warn = 2)  # any warning is an error: the references must come from clean runs

# survey's raking (grake) takes its Newton steps with MASS::ginv. MASS is only "Suggested" by
# survey and Debian's r-cran-survey does not pull it in; without it, use the same Moore-Penrose
# inverse (MASS 7.3's ginv, via svd) inside survey's namespace for this session. It only shapes
# the Newton steps: the converged weights (epsilon 1e-13) and the variances are unchanged.
if (!requireNamespace("MASS", quietly = TRUE)) {
  ginv <- function(X, tol = sqrt(.Machine$double.eps)) {
    X <- as.matrix(X)
    s <- svd(X)
    positive <- s$d > max(tol * s$d[1L], 0)
    if (!any(positive)) return(array(0, dim(X)[2L:1L]))
    s$v[, positive, drop = FALSE] %*% ((1 / s$d[positive]) * t(s$u[, positive, drop = FALSE]))
  }
  grake <- survey:::grake
  body(grake) <- eval(parse(text = paste0("quote(", paste(
    sub("MASS::ginv", "ginv", deparse(body(grake)), fixed = TRUE), collapse = "\n"), ")")))
  environment(grake) <- list2env(list(ginv = ginv), parent = asNamespace("survey"))
  assignInNamespace("grake", grake, "survey")
}

script_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(script_arg)) dirname(normalizePath(sub("^--file=", "", script_arg))) else "."
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[[1]] else here
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

level <- 0.95
d <- read.csv(file.path(here, "responses.csv"), colClasses = "character",
              na.strings = character(0), encoding = "UTF-8")
d$weight <- as.numeric(d$weight)
d$one <- 1
d$w0 <- 10000 / nrow(d)  # raking starts from N/n (statistics.md §3)
d$center_field <- paste(d$center_code, d$field_code, sep = ":")
questions <- c("HL", "TC", "TC1", "TC2", "TC3", "PA1", "ZR", "AL", "VZ")
for (q in questions) {
  d[[paste0("v_", q)]] <- d[[q]] %in% c("1", "2", "3", "4", "5")
  d[[paste0("y_", q)]] <- as.numeric(d[[q]] %in% c("4", "5"))
}

read_totals <- function(name) {
  t <- read.csv(file.path(here, name), colClasses = "character")
  t$Freq <- as.numeric(t$population)
  t$population <- NULL
  t
}
pop_field <- read_totals("totals_field.csv")
pop_gender <- read_totals("totals_gender.csv")
pop_cf <- read_totals("totals_center_field.csv")
rake_population <- c(
  `(Intercept)` = sum(pop_field$Freq),
  field_codeF2 = pop_field$Freq[pop_field$field_code == "F2"],
  field_codeF3 = pop_field$Freq[pop_field$field_code == "F3"],
  gendermale = pop_gender$Freq[pop_gender$gender == "male"]
)
stopifnot(sum(pop_gender$Freq) == sum(pop_field$Freq))

srs <- svydesign(ids = ~1, weights = ~one, data = d)
colw <- svydesign(ids = ~1, weights = ~weight, data = d)
strat <- svydesign(ids = ~1, strata = ~center_code, weights = ~one, data = d)
strat_w <- svydesign(ids = ~1, strata = ~center_code, weights = ~weight, data = d)
rake_of <- function(base) {
  calibrate(base, ~field_code + gender, population = rake_population, calfun = "raking",
            epsilon = 1e-13, maxit = 200)
}
designs <- list(
  srs = srs,
  colw = colw,
  strat = strat,
  strat_w = strat_w,
  ps = postStratify(srs, ~field_code, pop_field),
  ps_strat = postStratify(strat, ~field_code, pop_field),
  ps_colw_strat = postStratify(strat_w, ~field_code, pop_field),
  ps_cf_strat = postStratify(strat, ~center_code + field_code, pop_cf),
  rake = rake_of(svydesign(ids = ~1, weights = ~w0, data = d)),
  rake_strat = rake_of(svydesign(ids = ~1, strata = ~center_code, weights = ~w0, data = d))
)
calibrated <- c("ps", "ps_strat", "ps_colw_strat", "ps_cf_strat", "rake", "rake_strat")

# Korn-Graubard as statistics.md §4 states it (n = valid answers in the domain).
kg_formula <- function(p, v, n, df) {
  alpha <- 1 - level
  if (df <= 0) return(c(NA_real_, NA_real_))
  p <- min(max(p, 0), 1)  # svymean's sum of w/sum(w) can exceed 1 by an ulp
  if (p <= 0 || p >= 1 || n <= 1 || v <= 1e-9 * p * (1 - p) / (n - 1)) {
    nstar <- n
  } else {
    nstar <- p * (1 - p) / v * (qt(alpha / 2, n - 1) / qt(alpha / 2, df))^2
  }
  c(qbeta(alpha / 2, nstar * p, nstar * (1 - p) + 1),
    qbeta(1 - alpha / 2, nstar * p + 1, nstar * (1 - p)))
}

domains <- list(
  list(var = "", levels = ""),
  list(var = "commune_code", levels = sort(unique(d$commune_code))),
  list(var = "center_field", levels = sort(unique(d$center_field)))
)

rows <- list()
for (design_name in names(designs)) {
  des <- designs[[design_name]]
  for (q in questions) {
    valid <- d[[paste0("v_", q)]]
    yname <- paste0("y_", q)
    for (dom in domains) {
      # the crossed centre x field domains (many small ones) on a few designs only, to keep
      # this script quick enough to rerun in the test suite
      if (dom$var == "center_field" &&
          !(design_name %in% c("srs", "strat_w", "ps_cf_strat", "rake_strat") &&
            q %in% c("HL", "PA1", "ZR", "VZ"))) next
      for (lev in dom$levels) {
        keep <- valid & (if (dom$var == "") TRUE else d[[dom$var]] == lev)
        n <- sum(keep)
        if (n == 0) next
        sub <- des[keep, ]
        # deff needs svyvar, whose n/(n-1) is infinite at n = 1 (and breaks calibrated designs)
        m <- svymean(as.formula(paste0("~", yname)), sub, deff = if (n > 1) "replace" else FALSE)
        p <- unname(coef(m))
        if (abs(p - round(p)) < 1e-12) p <- round(p)  # 1 + 1 ulp is 1: all answers satisfied
        v <- unname(vcov(m)[1, 1])
        df <- degf(sub)
        w <- weights(des)[keep]
        ci_kg <- kg_formula(p, v, n, df)
        kg_source <- "formula"
        if (!(design_name %in% calibrated) && p > 0 && p < 1 && df > 0 &&
            v > 1e-9 * p * (1 - p) / (n - 1)) {
          r <- svyciprop(as.formula(paste0("~", yname)), sub, method = "beta", level = level)
          ci_kg_r <- unname(attr(r, "ci"))
          stopifnot(isTRUE(all.equal(ci_kg_r, ci_kg, tolerance = 1e-12)))
          ci_kg <- ci_kg_r
          kg_source <- "svyciprop"
        }
        if (p <= 0 || p >= 1) {
          if (df > 0) {
            exact <- as.numeric(binom.test(round(n * p), n, conf.level = level)$conf.int)
            stopifnot(isTRUE(all.equal(exact, ci_kg, tolerance = 1e-12)))
          }
          kg_source <- "clopper-pearson"
        }
        ci_logit <- c(NA_real_, NA_real_)
        if (p > 0 && p < 1 && df > 0) {
          ci_logit <- unname(attr(svyciprop(as.formula(paste0("~", yname)), sub,
                                            method = "xlogit", level = level), "ci"))
        }
        ci_wald <- c(NA_real_, NA_real_)
        if (df > 0) {
          ci_wald <- pmin(pmax(unname(confint(m, level = level)[1, ]), 0), 1)
        }
        rows[[length(rows) + 1]] <- data.frame(
          design = design_name, question = q, domain_var = dom$var, domain = lev,
          estimate = p, se = sqrt(v), deff = if (p > 0 && p < 1 && n > 1) unname(deff(m)) else NA_real_,
          df = df, n = n, n_eff = sum(w)^2 / sum(w^2),
          kg_low = ci_kg[1], kg_high = ci_kg[2], kg_source = kg_source,
          logit_low = ci_logit[1], logit_high = ci_logit[2],
          wald_low = ci_wald[1], wald_high = ci_wald[2]
        )
      }
    }
  }
}
estimates <- do.call(rbind, rows)

# Mean of item indices (rule mean_of_items): a delta-method contrast of survey totals.
items <- c("TC1", "TC2", "TC3")
moi <- list()
for (design_name in c("srs", "colw", "strat", "ps_strat", "ps_cf_strat", "rake_strat")) {
  des <- designs[[design_name]]
  for (lev in c("", sort(unique(d$commune_code)))) {
    dom <- if (lev == "") rep(TRUE, nrow(d)) else d$commune_code == lev
    used <- character(0)
    for (k in seq_along(items)) {
      q <- items[k]
      b <- as.numeric(d[[paste0("v_", q)]] & dom)
      if (sum(b) == 0) next
      des$variables[[paste0("a", k)]] <- b * d[[paste0("y_", q)]]
      des$variables[[paste0("b", k)]] <- b
      used <- c(used, as.character(k))
    }
    if (!length(used)) next
    tot <- svytotal(as.formula(paste("~", paste0(c(paste0("a", used), paste0("b", used)),
                                                 collapse = "+"))), des)
    expr <- parse(text = sprintf("(%s)/%d", paste0("a", used, "/b", used, collapse = "+"),
                                 length(used)))[[1]]
    con <- svycontrast(tot, expr)
    moi[[length(moi) + 1]] <- data.frame(
      design = design_name, domain_var = if (lev == "") "" else "commune_code", domain = lev,
      items = paste(items[as.integer(used)], collapse = ";"),
      estimate = unname(coef(con)), se = unname(sqrt(vcov(con)[1, 1]))
    )
  }
}
mean_of_items <- do.call(rbind, moi)

# svyby, to show that the one-domain-at-a-time subsets above are R's domain estimates.
by_rows <- list()
for (design_name in c("strat", "strat_w", "ps_strat", "rake_strat")) {
  des <- designs[[design_name]]
  for (q in c("HL", "PA1")) {
    res <- svyby(as.formula(paste0("~y_", q)), ~commune_code, des[d[[paste0("v_", q)]], ],
                 svymean)
    by_rows[[length(by_rows) + 1]] <- data.frame(
      design = design_name, question = q, domain_var = "commune_code",
      domain = as.character(res$commune_code), estimate = unname(coef(res)),
      se = unname(SE(res))
    )
  }
}
svyby_results <- do.call(rbind, by_rows)

weights_out <- do.call(rbind, lapply(calibrated, function(name) {
  data.frame(design = name, response_id = d$response_id, weight = weights(designs[[name]]))
}))

full_precision <- function(frame) {
  for (col in names(frame)) {
    if (is.numeric(frame[[col]]) && !is.integer(frame[[col]])) {
      x <- sprintf("%.17g", frame[[col]])
      x[is.na(frame[[col]])] <- ""
      frame[[col]] <- x
    }
  }
  frame
}
write_out <- function(frame, name) {
  write.csv(full_precision(frame), file.path(outdir, name), row.names = FALSE, na = "")
}
write_out(estimates, "reference_estimates.csv")
write_out(mean_of_items, "reference_mean_of_items.csv")
write_out(svyby_results, "reference_svyby.csv")
write_out(weights_out, "reference_weights.csv")
writeLines(c(R.version.string, paste("survey", as.character(packageVersion("survey"))),
             "options(survey.lonely.psu = \"adjust\")"),
           file.path(outdir, "reference_session.txt"))
