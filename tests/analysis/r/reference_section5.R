#!/usr/bin/env Rscript
# Reference numbers for statistics.md section 5 (analysis.comparisons, analysis.drivers), from
# R's `survey` package, on the same responses.csv as reference.R.
#
# Regenerate (from the repository root; writes into tests/analysis/r unless OUTDIR is given):
#
#     Rscript tests/analysis/r/reference_section5.R [OUTDIR]
#
# Outputs (committed):
#   reference_change.csv   change between quarters (designs stratified by centre x quarter):
#                          svycontrast(svyby(..., covmat = TRUE), c(-1, 1)), its normal
#                          confint() and 2 * pnorm(-|z|)
#   reference_below.csv    one-sided tests of p < target by centre and p.adjust(method = "BH"):
#                          pnorm((p - target) / SE), or pbinom(n p, n, target) where V = 0
#   reference_drivers.csv  svyglm(family = quasibinomial()) coefficients and SEs, and average
#                          marginal effects: svycontrast(svypredmeans(m, ~x), c(-1, 1))
suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "adjust")
options(warn = 2)

# survey's raking needs MASS::ginv, which Debian's r-cran-survey does not pull in (see reference.R)
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

d <- read.csv(file.path(here, "responses.csv"), colClasses = "character",
              na.strings = character(0), encoding = "UTF-8")
d$weight <- as.numeric(d$weight)
d$w0 <- 10000 / nrow(d)
# quarter in Vietnam time: every timestamp carries +07:00
d$quarter <- paste0(substr(d$submitted_at, 1, 4), "-Q",
                    (as.integer(substr(d$submitted_at, 6, 7)) - 1) %/% 3 + 1)
d$center_quarter <- paste(d$center_code, d$quarter, sep = ":")
for (q in c("HL", "TC1", "TC2", "TC3", "PA1")) {
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
rake_population <- c(
  `(Intercept)` = sum(pop_field$Freq),
  field_codeF2 = pop_field$Freq[pop_field$field_code == "F2"],
  field_codeF3 = pop_field$Freq[pop_field$field_code == "F3"],
  gendermale = pop_gender$Freq[pop_gender$gender == "male"]
)
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

# ---------------------------------------------------------------- change between quarters
by_quarter <- list(
  cq = svydesign(ids = ~1, strata = ~center_quarter, weights = ~one, data = transform(d, one = 1)),
  cq_w = svydesign(ids = ~1, strata = ~center_quarter, weights = ~weight, data = d)
)
change_rows <- list()
for (design_name in names(by_quarter)) {
  des <- by_quarter[[design_name]]
  for (q in c("HL", "PA1")) {
    sub <- des[d[[paste0("v_", q)]], ]
    for (domain in c("quarter", "center_quarter")) {
      res <- svyby(as.formula(paste0("~y_", q)), as.formula(paste0("~", domain)), sub, svymean,
                   covmat = TRUE)
      labels <- as.character(res[[domain]])
      for (later in seq_along(labels)) {
        for (earlier in seq_along(labels)) {
          if (domain == "quarter" && later != earlier + 1) next
          if (domain == "center_quarter") {
            same_center <- sub("[:].*", "", labels[later]) == sub("[:].*", "", labels[earlier])
            if (!(same_center && later == earlier + 1)) next
          }
          weights <- rep(0, length(labels))
          weights[later] <- 1
          weights[earlier] <- -1
          con <- svycontrast(res, weights)
          est <- unname(coef(con))
          se <- unname(sqrt(vcov(con)[1, 1]))
          ci <- unname(confint(con, level = 0.95)[1, ])
          change_rows[[length(change_rows) + 1]] <- data.frame(
            design = design_name, question = q, domain_var = domain,
            earlier = labels[earlier], later = labels[later],
            estimate = est, se = se, ci_low = ci[1], ci_high = ci[2],
            p_value = if (se > 0) 2 * pnorm(-abs(est / se)) else NA_real_
          )
        }
      }
    }
  }
}
write_out(do.call(rbind, change_rows), "reference_change.csv")

# ---------------------------------------------------------------- centres below a target
target <- 0.75
des <- svydesign(ids = ~1, strata = ~center_code, weights = ~weight, data = d)
below_rows <- list()
for (q in c("HL", "TC1")) {
  valid <- d[[paste0("v_", q)]]
  res <- svyby(as.formula(paste0("~y_", q)), ~commune_code, des[valid, ], svymean)
  n <- as.vector(table(factor(d$commune_code[valid], levels = res$commune_code)))
  p <- unname(coef(res))
  se <- unname(SE(res))
  exact <- !(se > 1e-12 * sqrt(pmax(p * (1 - p), 1e-300)) & p > 0 & p < 1)
  p_value <- ifelse(exact, pbinom(round(n * p), n, target), pnorm((p - target) / se))
  below_rows[[length(below_rows) + 1]] <- data.frame(
    question = q, commune_code = as.character(res$commune_code), estimate = p, se = se, n = n,
    exact = exact, p_value = p_value, p_adjusted = p.adjust(p_value, method = "BH")
  )
}
write_out(do.call(rbind, below_rows), "reference_below.csv")

# ---------------------------------------------------------------- key drivers
# A subset of a calibrated design keeps the other rows with weight 0, about which glm() warns
# (harmlessly: svyglm's variance does not use glm's dispersion); only that warning is muffled.
quiet <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    if (grepl("zero weight", conditionMessage(w))) invokeRestart("muffleWarning")
  })
}
driver_designs <- list(
  srs = svydesign(ids = ~1, weights = ~one, data = transform(d, one = 1)),
  strat_w = svydesign(ids = ~1, strata = ~center_code, weights = ~weight, data = d),
  ps_strat = postStratify(svydesign(ids = ~1, strata = ~center_code, weights = ~one,
                                    data = transform(d, one = 1)), ~field_code, pop_field),
  rake_strat = calibrate(svydesign(ids = ~1, strata = ~center_code, weights = ~w0, data = d),
                         ~field_code + gender, population = rake_population,
                         calfun = "raking", epsilon = 1e-13, maxit = 200)
)
items <- c("TC1", "TC2", "TC3")
# glm's default convergence (epsilon 1e-8 on the deviance) leaves coefficients uncertain in
# their sixth digit; converge fully so that the references are the estimator's fixed point
tight <- glm.control(epsilon = 1e-14, maxit = 100)
driver_rows <- list()
for (design_name in names(driver_designs)) {
  des <- driver_designs[[design_name]]
  used <- d$v_HL & d$v_TC1 & d$v_TC2 & d$v_TC3
  sub <- des[used, ]
  model <- quiet(svyglm(y_HL ~ y_TC1 + y_TC2 + y_TC3, design = sub, family = quasibinomial(),
                        control = tight))
  se <- sqrt(diag(vcov(model)))
  for (term in names(coef(model))) {
    item <- if (term == "(Intercept)") "Intercept" else sub("^y_", "", term)
    ame <- NA_real_
    ame_se <- NA_real_
    if (item != "Intercept") {
      others <- paste0("y_", setdiff(items, item))
      adjust <- quiet(svyglm(as.formula(paste("y_HL ~", paste(others, collapse = " + "))),
                             design = sub, family = quasibinomial(), control = tight))
      margins <- quiet(svypredmeans(adjust, as.formula(paste0("~y_", item))))
      order <- c(which(names(coef(margins)) == "0"), which(names(coef(margins)) == "1"))
      weights <- rep(0, 2)
      weights[order] <- c(-1, 1)
      con <- svycontrast(margins, weights)
      ame <- unname(coef(con))
      ame_se <- unname(sqrt(vcov(con)[1, 1]))
    }
    driver_rows[[length(driver_rows) + 1]] <- data.frame(
      design = design_name, missing = "drop", term = item,
      coefficient = unname(coef(model)[term]), se = unname(se[term]), ame = ame, ame_se = ame_se
    )
  }
}
# missing = "indicator": an item without a valid answer counts as 0 and gets its own indicator
des <- driver_designs[["strat_w"]]
des <- update(des, m_TC1 = as.numeric(!v_TC1), m_PA1 = as.numeric(!v_PA1))
sub <- des[d$v_HL, ]
model <- quiet(svyglm(y_HL ~ y_TC1 + y_PA1 + m_TC1 + m_PA1, design = sub,
                      family = quasibinomial(), control = tight))
se <- sqrt(diag(vcov(model)))
labels <- c(`(Intercept)` = "Intercept", y_TC1 = "TC1", y_PA1 = "PA1", m_TC1 = "TC1:missing",
            m_PA1 = "PA1:missing")
for (term in names(coef(model))) {
  driver_rows[[length(driver_rows) + 1]] <- data.frame(
    design = "strat_w", missing = "indicator", term = labels[[term]],
    coefficient = unname(coef(model)[term]), se = unname(se[term]), ame = NA_real_,
    ame_se = NA_real_
  )
}
write_out(do.call(rbind, driver_rows), "reference_drivers.csv")
