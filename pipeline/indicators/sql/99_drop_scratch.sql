-- Drops the scratch tables and the macros: the output database holds only the documented tables and views.

DROP TABLE _cv;
DROP TABLE _commune;
DROP TABLE _cp;
DROP TABLE _tl;
DROP TABLE _tpc;
DROP TABLE _tp;
DROP TABLE _chg;
DROP TABLE _cm;
DROP TABLE _cs;
DROP TABLE _trank;
DROP TABLE _ctraj;
DROP TABLE _ttarget;
DROP TABLE _tocs;
DROP TABLE _tcerema;
DROP TABLE _cerema_in;
DROP TABLE _targets_in;
DROP TABLE _planning_in;
DROP TABLE _coverage;
DROP MACRO xsum;
DROP MACRO vintage_text;
DROP MACRO period_text;
