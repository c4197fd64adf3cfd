-- A complete job's result kept as a file in the media store, named by its SHA-256, instead of in
-- `result`: an export of a million items is hundreds of megabytes, and a row's text field
-- stops at 1 GB on both engines. The file downloads in ranges, so a broken download resumes.
ALTER TABLE jobs ADD COLUMN result_sha TEXT;
