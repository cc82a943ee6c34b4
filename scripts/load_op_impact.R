# Load the op-impact data package into R with readr and jsonlite only (no frictionless package needed).
#
# As a library:
#   source("scripts/load_op_impact.R")
#   op <- read_op_impact(".")          # named list of tibbles: op$events, op$assets, ...
#   str(op$personnel_levels)
#
# As a program (prints a JSON summary per table; exits non-zero on any parsing problem,
# wrong column type or row-count mismatch):
#   Rscript scripts/load_op_impact.R [PACKAGE_DIR]
#
# Column types come from the Table Schemas: string -> character, integer -> integer,
# number -> double, date -> Date, boolean -> logical. Only empty cells are missing (na = "").

suppressPackageStartupMessages({
  library(jsonlite)
  library(readr)
})

op_impact_col_type <- function(field) {
  type <- if (is.null(field$type)) "string" else field$type
  switch(type,
    string = readr::col_character(),
    any = readr::col_character(),
    integer = readr::col_integer(),
    number = readr::col_double(),
    date = readr::col_date(format = "%Y-%m-%d"),
    boolean = readr::col_logical(),
    stop(sprintf("field '%s' has type '%s', which this loader does not handle", field$name, type))
  )
}

op_impact_expected_class <- function(field) {
  type <- if (is.null(field$type)) "string" else field$type
  switch(type, string = "character", any = "character", integer = "integer", number = "numeric",
         date = "Date", boolean = "logical")
}

op_impact_safe_path <- function(dir, rel) {
  if (!is.character(rel) || length(rel) != 1 || rel == "" || grepl("^(/|\\\\|[A-Za-z]:|[A-Za-z][A-Za-z0-9+.-]*://)", rel) ||
      any(strsplit(gsub("\\\\", "/", rel), "/", fixed = TRUE)[[1]] == "..")) {
    stop(sprintf("unsafe path in the descriptor: '%s' (only relative paths inside the package are read)", rel))
  }
  file.path(dir, rel)
}

op_impact_schema <- function(dir, resource) {
  schema <- resource$schema
  if (is.character(schema)) {
    schema <- jsonlite::fromJSON(op_impact_safe_path(dir, schema), simplifyVector = FALSE)
  }
  schema
}

# Read one resource: returns the tibble; readr's problems() stay attached to it.
read_op_impact_resource <- function(dir, resource) {
  schema <- op_impact_schema(dir, resource)
  fields <- schema$fields
  names <- vapply(fields, function(f) f$name, character(1))
  types <- do.call(readr::cols, setNames(lapply(fields, op_impact_col_type), names))
  path <- op_impact_safe_path(dir, resource$path)
  header <- names(readr::read_csv(path, n_max = 0, col_types = readr::cols(.default = "c"),
                                  locale = readr::locale(encoding = "UTF-8"), progress = FALSE))
  if (!identical(header, names)) {
    stop(sprintf("%s: header (%s) differs from the schema's fields (%s)", resource$path,
                 paste(header, collapse = ","), paste(names, collapse = ",")))
  }
  readr::read_csv(path, col_names = names, skip = 1, col_types = types, na = "", quote = "\"",
                  trim_ws = FALSE, skip_empty_rows = TRUE, locale = readr::locale(encoding = "UTF-8"),
                  progress = FALSE, show_col_types = FALSE, lazy = FALSE)
}

# Read every table of the package at dir, in descriptor order, as a named list of tibbles.
read_op_impact <- function(dir = ".") {
  descriptor <- jsonlite::fromJSON(file.path(dir, "datapackage.json"), simplifyVector = FALSE)
  tables <- list()
  for (resource in descriptor$resources) {
    tables[[resource$name]] <- read_op_impact_resource(dir, resource)
  }
  tables
}

# Check the tables against the schemas and the CSV files; return a summary list, or stop() on a problem.
check_op_impact <- function(dir = ".") {
  descriptor <- jsonlite::fromJSON(file.path(dir, "datapackage.json"), simplifyVector = FALSE)
  summary <- list()
  failures <- character(0)
  for (resource in descriptor$resources) {
    name <- resource$name
    fields <- op_impact_schema(dir, resource)$fields
    # Parsing problems are reported below, with their place; muffle readr's generic warning.
    table <- withCallingHandlers(read_op_impact_resource(dir, resource), warning = function(w) {
      if (grepl("parsing issues", conditionMessage(w))) invokeRestart("muffleWarning")
    })
    probs <- readr::problems(table)
    if (nrow(probs) > 0) {
      first <- probs[1, ]
      failures <- c(failures, sprintf("%s: %d parsing problems; first at data row %d, field %s: expected %s, got '%s'",
                                      name, nrow(probs), first$row, names(table)[first$col],
                                      first$expected, first$actual))
    }
    classes <- vapply(table, function(column) class(column)[1], character(1))
    expected <- vapply(fields, op_impact_expected_class, character(1))
    wrong <- which(classes != expected)
    for (i in wrong) {
      failures <- c(failures, sprintf("%s.%s: read as %s, the schema says %s", name, names(table)[i],
                                      classes[i], expected[i]))
    }
    # Count the CSV's records with a second, independent parser (base R, everything as text).
    raw <- utils::read.csv(op_impact_safe_path(dir, resource$path), colClasses = "character",
                           na.strings = character(0), encoding = "UTF-8", check.names = FALSE)
    raw <- raw[rowSums(raw != "") > 0, , drop = FALSE]
    if (nrow(raw) != nrow(table)) {
      failures <- c(failures, sprintf("%s: readr read %d rows, the CSV has %d", name, nrow(table), nrow(raw)))
    }
    summary[[name]] <- list(
      rows = nrow(table),
      columns = I(names(table)),
      classes = I(unname(classes)),
      missing = as.list(vapply(table, function(column) sum(is.na(column)), integer(1)))
    )
  }
  if (length(failures) > 0) {
    stop(paste(c("the package does not load cleanly:", failures), collapse = "\n  "), call. = FALSE)
  }
  summary
}

if (sys.nframe() == 0L) {
  args <- commandArgs(trailingOnly = TRUE)
  dir <- if (length(args) >= 1) args[[1]] else "."
  result <- tryCatch(check_op_impact(dir), error = function(e) {
    message("error: ", conditionMessage(e))
    quit(status = 1)
  })
  cat(jsonlite::toJSON(result, auto_unbox = TRUE, pretty = TRUE), "\n")
}
