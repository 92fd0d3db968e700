# frozen_string_literal: true

desc "Check Ruby style with RuboCop (.rubocop.yml)"
task :rubocop do
  sh "rubocop", chdir: ROOT
end
