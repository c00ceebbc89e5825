-- Labels of vintages and periods that show the real years beside the nominal labels when they differ.
-- vintage_text(2010, 2007) = '2010 = 2007'; period_text(2010, 2019, 2007, 2018) = '2010→2019 = 2007→2018';
-- when the years are the labels (no --vintage-years table, or a row giving the label's own year) only the labels show.

CREATE OR REPLACE TEMP MACRO vintage_text(vintage, year) AS
  CASE WHEN year = vintage THEN vintage::VARCHAR ELSE format('{} = {}', vintage, year) END;

CREATE OR REPLACE TEMP MACRO period_text(from_vintage, to_vintage, from_year, to_year) AS
  CASE WHEN from_year = from_vintage AND to_year = to_vintage THEN format('{}→{}', from_vintage, to_vintage)
       ELSE format('{}→{} = {}→{}', from_vintage, to_vintage, from_year, to_year) END;
